/**
 * A small request generator driven by the broker's OpenAPI document: for
 * every operation, requests whose path parameters, query parameters,
 * headers and body fields take malformed and boundary values, one field at
 * a time, the others valid. Seeded, so a failure reproduces from its seed.
 */

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>
  components?: { schemas?: Record<string, Schema> }
}

interface Parameter { in: 'path' | 'query' | 'header', name: string, schema?: Schema }
interface Operation {
  operationId?: string
  parameters?: Parameter[]
  requestBody?: { content?: Record<string, { schema?: Schema }> }
}
export interface Schema {
  $ref?: string
  type?: string | string[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  enum?: unknown[]
  const?: unknown
  anyOf?: Schema[]
  oneOf?: Schema[]
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  format?: string
  default?: unknown
}

export interface GeneratedRequest {
  operation: string
  method: string
  path: string
  headers: Record<string, string>
  body?: string
  /** What was malformed, for the failure message. */
  mutation: string
}

/** mulberry32: small, fast, seedable. */
export function seededRandom (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6D2B79F5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Malformed and boundary strings for a URL segment or query value (already percent-encoded where they must be). */
const URL_VALUES = ['', 'a', '0', '-1', '%00', '%2e%2e', '..', '%2F', '%c0%ae', '%ff', '%E2%80%AE', '%F0%9F%92%A9', '%25', '%20', 'a%0d%0aSet-Cookie:x=1', '%22%3E%3Cscript%3E', 'null', 'true', '1e309', 'NaN', '9007199254740993', 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(253), 'x'.repeat(254), 'x'.repeat(301), 'x'.repeat(2_000), 'a.eu.qlikcloud.com', 'evil.example.com', 'localhost', '127.0.0.1', '*', '%3F', '%23', ';', 'eu%00']
/** Header values (no CR/LF: Node refuses to send those). */
const HEADER_VALUES = ['', ' ', '"', '""', '"\\"', 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(8_000), 'é', '\u00ff', '\t', 'a b', 'null', '-1', '1e309', '2025-01', 'evil.example.com', 'a,b', '*']
/** Values of any JSON type, for a body field. */
const JSON_VALUES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, '', ' ', 'x'.repeat(10_000), '\u0000', '\ud800', '<script>', [], [null], {}, { $ref: '#' }, { __proto__: { polluted: true } }, { constructor: { prototype: { polluted: true } } }, 'x'.repeat(300), 'a.eu.qlikcloud.com', [1, 2, 3], Array.from({ length: 200 }, () => 'x')]
/** Whole bodies that are not what any schema wants. */
const RAW_BODIES = ['', 'null', '[]', '{', '{"a":', '"text"', '1', 'not json', '{"a":1,"a":2}', `${'['.repeat(5_000)}${']'.repeat(5_000)}`, `{"x":"${'y'.repeat(200_000)}"}`, '\u0000\u0001']

export class OpenApiFuzzer {
  private readonly random: () => number
  private readonly document: OpenApiDocument
  /** A valid value for a parameter or field of this name, when the test knows one (a real tenant id, a region). */
  private readonly valid: (name: string) => string | undefined

  constructor (document: OpenApiDocument, seed: number, valid: (name: string) => string | undefined) {
    this.document = document
    this.valid = valid
    this.random = seededRandom(seed)
  }

  pick<T> (values: readonly T[]): T {
    return values[Math.floor(this.random() * values.length)] as T
  }

  chance (p: number): boolean {
    return this.random() < p
  }

  operations (): Array<{ path: string, method: string, operation: Operation }> {
    return Object.entries(this.document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })))
  }

  resolve (schema: Schema | undefined): Schema {
    let current = schema ?? {}
    for (let depth = 0; current.$ref !== undefined && depth < 10; depth++) {
      current = this.document.components?.schemas?.[current.$ref.replace('#/components/schemas/', '')] ?? {}
    }
    return current
  }

  /** A value the schema accepts (or close to it): the baseline one field is then broken in. */
  validValue (schema: Schema | undefined, name = '', depth = 0): unknown {
    const resolved = this.resolve(schema)
    const known = this.valid(name)
    if (known !== undefined) return known
    if (resolved.const !== undefined) return resolved.const
    if (resolved.enum !== undefined) return this.pick(resolved.enum)
    const alternatives = resolved.anyOf ?? resolved.oneOf
    if (alternatives !== undefined && alternatives.length > 0) return this.validValue(this.pick(alternatives), name, depth + 1)
    const type = Array.isArray(resolved.type) ? resolved.type.find((each) => each !== 'null') : resolved.type
    if (type === 'object' || resolved.properties !== undefined) {
      if (depth > 4) return {}
      return Object.fromEntries(Object.entries(resolved.properties ?? {}).filter(([key]) => resolved.required?.includes(key) === true || this.chance(0.5)).map(([key, value]) => [key, this.validValue(value, key, depth + 1)]))
    }
    if (type === 'array') return depth > 4 ? [] : [this.validValue(resolved.items, name, depth + 1)]
    if (type === 'integer' || type === 'number') return resolved.minimum ?? 1
    if (type === 'boolean') return true
    if (resolved.format === 'date-time') return new Date(0).toISOString()
    return 'x'.repeat(Math.max(1, resolved.minLength ?? 1))
  }

  /** One request for an operation, with one thing broken (or, now and then, nothing). */
  request (path: string, method: string, operation: Operation): GeneratedRequest {
    const parameters = operation.parameters ?? []
    const bodySchema = operation.requestBody?.content?.['application/json']?.schema
    const targets = [...parameters.map((parameter) => `${parameter.in}:${parameter.name}`), ...(bodySchema === undefined ? [] : ['body-field', 'body-raw', 'content-type']), 'none']
    const target = this.pick(targets)
    let mutation = target === 'none' ? 'valid' : target
    let url = path
    const query: string[] = []
    const headers: Record<string, string> = {}
    for (const parameter of parameters) {
      const broken = target === `${parameter.in}:${parameter.name}`
      if (!broken && parameter.in !== 'path' && this.chance(0.6)) continue
      let value: string
      if (broken) {
        value = parameter.in === 'header' ? this.pick(HEADER_VALUES) : this.pick(URL_VALUES)
        mutation = `${target}=${JSON.stringify(value.slice(0, 40))}${value.length > 40 ? `…(${value.length})` : ''}`
      } else {
        value = String(this.validValue(parameter.schema, parameter.name))
        if (parameter.in !== 'header') value = parameter.name === '*' ? value : encodeURIComponent(value)
      }
      if (parameter.in === 'path') url = url.replace(`{${parameter.name}}`, value)
      else if (parameter.in === 'query') query.push(`${encodeURIComponent(parameter.name)}=${value}`)
      else headers[parameter.name] = value
    }
    if (target === 'none' && this.chance(0.3)) query.push(`${this.pick(['unknown', 'limit', '__proto__', 'a[b]'])}=${this.pick(URL_VALUES)}`)
    let body: string | undefined
    if (bodySchema !== undefined || method !== 'GET') {
      const baseline = this.validValue(bodySchema)
      if (target === 'body-raw') {
        body = this.pick(RAW_BODIES)
        mutation = `body=${JSON.stringify(body.slice(0, 40))}${body.length > 40 ? `…(${body.length})` : ''}`
      } else if (target === 'body-field' && baseline !== null && typeof baseline === 'object') {
        const broken = this.breakField(baseline as Record<string, unknown>)
        mutation = `body field ${broken.field}`
        body = JSON.stringify(broken.body)
      } else {
        body = JSON.stringify(baseline)
      }
      headers['content-type'] = target === 'content-type' ? this.pick(['text/plain', 'application/xml', 'application/json; charset=utf-16', 'multipart/form-data', '', 'application/x-www-form-urlencoded', '*/*']) : 'application/json'
      if (target === 'content-type') mutation = `content-type=${headers['content-type']}`
    }
    return { operation: operation.operationId ?? `${method} ${path}`, method, path: query.length === 0 ? url : `${url}?${query.join('&')}`, headers, ...(body === undefined ? {} : { body }), mutation }
  }

  private breakField (baseline: Record<string, unknown> | unknown[]): { field: string, body: unknown } {
    const copy = JSON.parse(JSON.stringify(baseline)) as Record<string, unknown>
    const target = Array.isArray(copy) ? (copy[0] ?? {}) as Record<string, unknown> : copy
    const keys = Object.keys(target)
    const field = keys.length === 0 || this.chance(0.2) ? this.pick(['extra', '__proto__', 'constructor', 'id', 'op', 'path', 'value']) : this.pick(keys)
    const value = this.pick(JSON_VALUES)
    if (this.chance(0.1)) delete target[field]
    else target[field] = value
    return { field: `${field}=${JSON.stringify(value)?.slice(0, 40) ?? 'undefined'}`, body: copy }
  }
}
