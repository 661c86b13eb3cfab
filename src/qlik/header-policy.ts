import type { IncomingHttpHeaders } from 'node:http'

/**
 * Caller headers that travel to Qlik. Authorization, cookies and anything
 * hop-by-hop never do: the broker authenticates upstream itself.
 */
const FORWARDED_REQUEST_HEADERS = [
  'accept',
  'accept-encoding',
  'accept-language',
  'content-type',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'qlik-api-version',
  'qlik-confirm-hostname',
  'traceparent',
  'tracestate'
] as const

/**
 * Qlik response headers worth handing back to the caller, by exact name. No
 * prefix match: a prefix lets any header through (`ratelimit-canary-token`).
 * The IETF `RateLimit-*` names are the broker's own per-caller quota and are
 * never taken from Qlik; Qlik's limits, if it sends any, come back only as
 * `X-RateLimit-Limit/Remaining/Reset` (not documented by Qlik:
 * docs/reference/qlik-cloud-api.md §5) and `Retry-After`.
 */
const RETURNED_RESPONSE_HEADERS = new Set([
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-type',
  'etag',
  'last-modified',
  'link',
  'location',
  'retry-after',
  'vary',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset'
])

export function upstreamRequestHeaders (incoming: IncomingHttpHeaders, requestId: string): Record<string, string> {
  const headers: Record<string, string> = { 'x-request-id': requestId }
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = incoming[name]
    if (typeof value === 'string') headers[name] = value
  }
  return headers
}

export function returnedResponseHeaders (upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {}
  // for…in rather than Object.entries: no [name, value] array per header on every answer. The object is undici's
  // (or a stored answer's) plain header record: its own keys are all there is to walk.
  for (const name in upstream) {
    const value = upstream[name]
    if (value === undefined) continue
    if (RETURNED_RESPONSE_HEADERS.has(name.toLowerCase())) headers[name] = value
  }
  return headers
}
