import type { IncomingMessage, ServerResponse } from 'node:http'

/** What a handler answers; the server writes it. Handlers never touch `res`. */
export interface SimResponse {
  status: number
  /** Serialised as JSON; omitted for 204/302. */
  body?: unknown
  headers?: Record<string, string>
}

export const MAX_BODY_BYTES = 1024 * 1024

const EMPTY = Buffer.alloc(0)

/** `Host` header → lowercase hostname without port or trailing dot. */
export function normalizeHost (raw: string | undefined): string {
  if (raw === undefined || raw === '') return ''
  let host = raw
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    host = end === -1 ? host : host.slice(0, end + 1)
  } else {
    const colon = host.lastIndexOf(':')
    if (colon !== -1) host = host.slice(0, colon)
  }
  if (host.endsWith('.')) host = host.slice(0, -1)
  return host.toLowerCase()
}

/** Splits `req.url` without `new URL()`, which is measurable at benchmark rates. */
export function splitUrl (url: string | undefined): { path: string, query: string } {
  const raw = url ?? '/'
  const q = raw.indexOf('?')
  let path = q === -1 ? raw : raw.slice(0, q)
  const query = q === -1 ? '' : raw.slice(q + 1)
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1)
  return { path, query }
}

/**
 * Reads the whole body, or returns `'too-large'` past `limit` bytes. Bodiless
 * requests (no length, no chunking) resolve at once without waiting for 'end'.
 */
export function readBody (req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer | 'too-large'> {
  const length = req.headers['content-length']
  if (length === undefined && req.headers['transfer-encoding'] === undefined) return Promise.resolve(EMPTY)
  if (length !== undefined && Number(length) > limit) return Promise.resolve('too-large')
  if (length === '0') return Promise.resolve(EMPTY)
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    req.on('data', (chunk: Buffer) => {
      if (done) return
      size += chunk.length
      if (size > limit) {
        done = true
        chunks.length = 0
        resolve('too-large')
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (done) return
      done = true
      resolve(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks))
    })
    // An aborted upload: answer as empty, the response goes nowhere anyway.
    req.on('error', () => {
      if (done) return
      done = true
      resolve(EMPTY)
    })
  })
}

export type Parsed<T> = { ok: true, value: T } | { ok: false, reason: string }

export function parseJson (body: Buffer): Parsed<unknown> {
  if (body.length === 0) return { ok: false, reason: 'Request body is empty' }
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) }
  } catch {
    return { ok: false, reason: 'Malformed JSON body' }
  }
}

/** An optional JSON object body: empty → `{}`. */
export function parseOptionalObject (body: Buffer): Parsed<Record<string, unknown>> {
  if (body.length === 0) return { ok: true, value: {} }
  const parsed = parseJson(body)
  if (!parsed.ok) return parsed
  if (!isObject(parsed.value)) return { ok: false, reason: 'Request body must be a JSON object' }
  return { ok: true, value: parsed.value }
}

export function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function mediaType (contentType: string | undefined): string {
  if (contentType === undefined) return ''
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
}

export function send (res: ServerResponse, response: SimResponse): void {
  if (res.headersSent || res.destroyed) return
  const headers: Record<string, string | number> = { ...response.headers }
  if (response.body === undefined) {
    res.writeHead(response.status, headers)
    res.end()
    return
  }
  const payload = JSON.stringify(response.body)
  headers['content-type'] = 'application/json; charset=utf-8'
  headers['content-length'] = Buffer.byteLength(payload)
  res.writeHead(response.status, headers)
  res.end(payload)
}
