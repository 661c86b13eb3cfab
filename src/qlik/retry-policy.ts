export interface RetryPolicy {
  maxAttempts: number
  baseDelayMs: number
  maxDelayMs: number
  /** A Retry-After longer than this is handed back to the caller instead of waited out. */
  maxRetryAfterMs: number
}

/** Methods that cannot act twice when sent twice (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/** Transport failures that happen before the request could reach Qlik. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH'])

/**
 * Whether an answer or failure may be retried without risking a second
 * action: a 429 is a refusal (Qlik did nothing), a connection that never
 * opened sent nothing; a 5xx or a broken connection may have acted, so only
 * idempotent methods go again.
 */
export function mayRetry (method: string, outcome: { status: number } | { errorCode: string }): boolean {
  if ('status' in outcome) {
    if (outcome.status === 429) return true
    return (outcome.status === 502 || outcome.status === 503 || outcome.status === 504) && IDEMPOTENT.has(method)
  }
  return NOT_SENT.has(outcome.errorCode) || IDEMPOTENT.has(method)
}

/** Exponential back-off with full jitter, or Retry-After when Qlik gave one. */
export function retryDelayMs (policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  if (retryAfterMs !== undefined) return retryAfterMs
  return Math.floor(random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)))
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter (value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined || text === '') return undefined
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined
}
