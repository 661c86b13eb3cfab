import { createHash } from 'node:crypto'
import { BrokerError } from '../http/broker-error.js'

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/

function invalid (message: string): BrokerError {
  return new BrokerError('QB_INVALID_REQUEST', `the Idempotency-Key header ${message}`, { issues: [{ pointer: `/headers/${IDEMPOTENCY_KEY_HEADER}`, message }] })
}

/**
 * The Idempotency-Key of a request, or undefined when it sent none. The IETF
 * draft makes the value a Structured Field string (`"…"`); a bare token is
 * what most clients send, so both are accepted and mean the same key.
 */
export function parseIdempotencyKey (header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined
  if (Array.isArray(header)) throw invalid('is sent more than once')
  const quoted = header.length >= 2 && header.startsWith('"') && header.endsWith('"')
  const key = quoted ? header.slice(1, -1) : header
  if (key.length === 0) throw invalid('is empty')
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) throw invalid(`is longer than ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`)
  if (!PRINTABLE_ASCII.test(key) || (quoted && /["\\]/.test(key))) throw invalid('holds characters other than printable ASCII')
  return key
}

/** Where a caller's key lives: namespaced by caller (two callers may pick the same key), hashed (any printable text is a key). */
export function storageKey (caller: string, key: string): string {
  return `${caller}:${createHash('sha256').update(key).digest('hex')}`
}

/** JSON with object keys sorted, so the same body sent with its members in another order is the same request. */
function canonicalJson (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, member]) => member !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([name, member]) => `${JSON.stringify(name)}:${canonicalJson(member)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

export interface FingerprintInput {
  caller: string
  method: string
  /** Path and query as the caller sent them. */
  url: string
  /** `qlik-confirm-hostname`: it changes what Qlik does (a wrong one is a 412), so it is part of the request. */
  confirmHostname?: string | undefined
  /** A parsed JSON body, or the raw bytes of a pass-through body. */
  body: unknown
}

/** sha-256 over what makes two requests "the same request" (IETF draft: the request fingerprint). */
export function requestFingerprint (input: FingerprintInput): string {
  const hash = createHash('sha256')
  for (const part of [input.caller, input.method.toUpperCase(), input.url, input.confirmHostname ?? '']) hash.update(part).update('\n')
  if (Buffer.isBuffer(input.body)) hash.update('raw\n').update(input.body)
  else if (input.body !== undefined && input.body !== null) hash.update('json\n').update(canonicalJson(input.body))
  return hash.digest('hex')
}
