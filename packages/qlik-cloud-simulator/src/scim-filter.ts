/**
 * The SCIM-like `filter` of Qlik's users listing (docs/reference/qlik-cloud-api.md
 * §7, §11): `attr op "value"` clauses joined by `and` / `or`, with parentheses
 * and `not (…)`. Attribute names and operators are case-insensitive, as in SCIM
 * (RFC 7644 §3.4.2.2), and so are string comparisons (§11: "case-insensitive").
 * Operators: eq, ne, co, sw, ew, pr. Values: "strings" (with `\\` and `\"`
 * escapes), true, false, null.
 */
export type Predicate<T> = (item: T) => boolean

type Value = string | boolean | null
type Token =
  | { kind: 'word', text: string }
  | { kind: 'string', text: string }
  | { kind: 'open' }
  | { kind: 'close' }

const OPERATORS = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'pr'])
const MAX_DEPTH = 16
const MAX_LENGTH = 4096

export class FilterError extends Error {}

function tokenize (source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < source.length) {
    const ch = source[i] as string
    if (/\s/.test(ch)) { i++; continue }
    if (ch === '(') { tokens.push({ kind: 'open' }); i++; continue }
    if (ch === ')') { tokens.push({ kind: 'close' }); i++; continue }
    if (ch === '"') {
      let text = ''
      i++
      for (;;) {
        const c = source[i]
        if (c === undefined) throw new FilterError('unterminated string')
        if (c === '"') { i++; break }
        if (c === '\\') {
          const escaped = source[i + 1]
          if (escaped === undefined) throw new FilterError('unterminated string')
          text += escaped
          i += 2
          continue
        }
        text += c
        i++
      }
      tokens.push({ kind: 'string', text })
      continue
    }
    const word = /^[A-Za-z0-9_.$-]+/.exec(source.slice(i))?.[0]
    if (word === undefined) throw new FilterError(`unexpected "${ch}" at position ${i}`)
    tokens.push({ kind: 'word', text: word })
    i += word.length
  }
  return tokens
}

/**
 * Compiles `source` into a predicate over objects whose filterable string
 * fields are `fields` (matched case-insensitively). Throws FilterError.
 */
export function compileFilter<T extends object> (source: string, fields: readonly (keyof T & string)[]): Predicate<T> {
  const byLowerName = new Map(fields.map((f) => [f.toLowerCase(), f]))
  if (source.length > MAX_LENGTH) throw new FilterError(`longer than ${MAX_LENGTH} characters`)
  const tokens = tokenize(source)
  let pos = 0
  let depth = 0

  const peekWord = (): string | undefined => {
    const t = tokens[pos]
    return t?.kind === 'word' ? t.text.toLowerCase() : undefined
  }

  function orExpr (): Predicate<T> {
    let left = andExpr()
    while (peekWord() === 'or') {
      pos++
      const l = left
      const r = andExpr()
      left = (item) => l(item) || r(item)
    }
    return left
  }

  function andExpr (): Predicate<T> {
    let left = unary()
    while (peekWord() === 'and') {
      pos++
      const l = left
      const r = unary()
      left = (item) => l(item) && r(item)
    }
    return left
  }

  function unary (): Predicate<T> {
    if (peekWord() === 'not' && tokens[pos + 1]?.kind === 'open') {
      pos++
      const inner = group()
      return (item) => !inner(item)
    }
    if (tokens[pos]?.kind === 'open') return group()
    return comparison()
  }

  function group (): Predicate<T> {
    pos++ // '('
    // Bounded, so a hostile filter cannot exhaust the stack.
    if (++depth > MAX_DEPTH) throw new FilterError(`more than ${MAX_DEPTH} nested parentheses`)
    const inner = orExpr()
    depth--
    if (tokens[pos]?.kind !== 'close') throw new FilterError('missing ")"')
    pos++
    return inner
  }

  function comparison (): Predicate<T> {
    const attrToken = tokens[pos]
    if (attrToken?.kind !== 'word') throw new FilterError('expected an attribute name')
    const field = byLowerName.get(attrToken.text.toLowerCase())
    if (field === undefined) throw new FilterError(`"${attrToken.text}" cannot be filtered on; use one of ${fields.join(', ')}`)
    pos++
    const op = peekWord()
    if (op === undefined || !OPERATORS.has(op)) throw new FilterError(`expected an operator (${[...OPERATORS].join(', ')}) after ${attrToken.text}`)
    pos++
    const read = (item: T): string | undefined => {
      const v = (item as Record<string, unknown>)[field]
      return typeof v === 'string' ? v.toLowerCase() : undefined
    }
    if (op === 'pr') return (item) => read(item) !== undefined && read(item) !== ''
    const value = literal()
    const want = typeof value === 'string' ? value.toLowerCase() : value
    return (item) => {
      const have = read(item)
      if (want === null) return op === 'eq' ? have === undefined : op === 'ne' ? have !== undefined : false
      if (typeof want === 'boolean') {
        const raw = (item as Record<string, unknown>)[field]
        return op === 'eq' ? raw === want : op === 'ne' ? raw !== want : false
      }
      if (op === 'ne') return have !== want
      if (have === undefined) return false
      switch (op) {
        case 'eq': return have === want
        case 'co': return have.includes(want)
        case 'sw': return have.startsWith(want)
        default: return have.endsWith(want) // ew
      }
    }
  }

  function literal (): Value {
    const t = tokens[pos]
    pos++
    if (t?.kind === 'string') return t.text
    if (t?.kind === 'word') {
      const w = t.text.toLowerCase()
      if (w === 'true') return true
      if (w === 'false') return false
      if (w === 'null') return null
    }
    throw new FilterError('expected a "quoted" value, true, false or null')
  }

  if (tokens.length === 0) throw new FilterError('empty filter')
  const predicate = orExpr()
  if (pos !== tokens.length) throw new FilterError('unexpected text after the end of the expression')
  return predicate
}
