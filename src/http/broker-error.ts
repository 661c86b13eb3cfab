/**
 * Every failure the broker answers itself. Each code is stable (callers may
 * switch on it) and maps to one HTTP status and title. The `detail` is
 * written for the caller: never a secret, token, upstream body or stack.
 */
export const ERROR_CATALOGUE = {
  QB_INVALID_REQUEST: { status: 400, title: 'The request is not valid' },
  QB_INVALID_URL: { status: 400, title: 'The request URL cannot be decoded' },
  QB_INVALID_TENANT: { status: 400, title: 'The tenant reference is not allowed' },
  QB_INVALID_PATH: { status: 400, title: 'The upstream path is not allowed' },
  QB_UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  QB_FORBIDDEN: { status: 403, title: 'Not allowed by policy' },
  QB_NOT_FOUND: { status: 404, title: 'No such route' },
  QB_UNKNOWN_REGION: { status: 404, title: 'Unknown region' },
  QB_TENANT_NOT_FOUND: { status: 404, title: 'Tenant not found' },
  QB_TENANT_HOST_REFUSED: { status: 404, title: 'Qlik issues no token for this tenant host' },
  QB_JOB_NOT_FOUND: { status: 404, title: 'No such job' },
  QB_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  QB_REQUEST_TIMEOUT: { status: 408, title: 'The request was not received in time' },
  QB_TENANT_DEACTIVATED: { status: 409, title: 'The tenant is deactivated' },
  QB_JOB_CONFLICT: { status: 409, title: 'Another job is running on this tenant' },
  QB_IDEMPOTENCY_IN_PROGRESS: { status: 409, title: 'A request with this Idempotency-Key is still in progress' },
  QB_IDEMPOTENCY_OUTCOME_UNKNOWN: { status: 409, title: 'The outcome of the request with this Idempotency-Key is unknown' },
  QB_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  QB_URI_TOO_LONG: { status: 414, title: 'A path segment is longer than the broker accepts' },
  QB_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  QB_TENANT_HOST_UNKNOWN: { status: 422, title: 'The broker does not know which host serves this tenant id; send its hostname' },
  QB_IDEMPOTENCY_MISMATCH: { status: 422, title: 'This Idempotency-Key was used for a different request' },
  QB_RATE_LIMITED: { status: 429, title: 'Qlik\'s rate budget for this tenant is spent' },
  QB_QUOTA_EXCEEDED: { status: 429, title: 'The caller\'s request quota is spent' },
  QB_IDEMPOTENCY_QUOTA_EXCEEDED: { status: 429, title: 'The caller holds as many Idempotency-Keys as it may' },
  QB_HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are larger than the broker accepts' },
  QB_INTERNAL: { status: 500, title: 'Internal error' },
  QB_CREDENTIALS_REJECTED: { status: 502, title: 'Qlik rejected the regional client credentials' },
  QB_TOKEN_UNAVAILABLE: { status: 502, title: 'No access token could be obtained from Qlik' },
  QB_UPSTREAM_UNREACHABLE: { status: 502, title: 'Qlik could not be reached' },
  QB_CREDENTIALS_UNAVAILABLE: { status: 503, title: 'Regional client credentials are unavailable' },
  QB_SHUTTING_DOWN: { status: 503, title: 'The broker is shutting down' },
  QB_OVERLOADED: { status: 503, title: 'The broker replica is at its limit of concurrent requests' },
  QB_IDEMPOTENCY_UNAVAILABLE: { status: 503, title: 'Idempotency keys cannot be checked right now' },
  QB_REGISTRY_UNAVAILABLE: { status: 503, title: 'The broker\'s tenant registry is unavailable' },
  QB_AUDIT_UNAVAILABLE: { status: 503, title: 'The audit trail cannot be read right now' },
  QB_UPSTREAM_RATE_LIMITED: { status: 503, title: 'Qlik is rate limiting the regional client' },
  QB_UPSTREAM_UNAVAILABLE: { status: 503, title: 'Qlik is failing; requests to it are paused' },
  QB_UPSTREAM_REDIRECT_REFUSED: { status: 502, title: 'Qlik redirected to another host; the broker does not pass that on' },
  QB_UPSTREAM_TIMEOUT: { status: 504, title: 'Qlik did not answer in time' }
} as const satisfies Record<string, { status: number, title: string }>

export type BrokerErrorCode = keyof typeof ERROR_CATALOGUE

export interface ErrorIssue {
  /** JSON Pointer into the request, e.g. `/body/0/path` or `/headers/qlik-confirm-hostname`. */
  pointer: string
  message: string
}

export class BrokerError extends Error {
  override readonly name = 'BrokerError'
  readonly code: BrokerErrorCode
  readonly statusCode: number
  readonly title: string
  readonly issues: readonly ErrorIssue[]
  readonly headers: Readonly<Record<string, string>>

  constructor (code: BrokerErrorCode, detail: string, options: { issues?: readonly ErrorIssue[], headers?: Record<string, string>, cause?: unknown } = {}) {
    super(detail, { cause: options.cause })
    this.code = code
    this.statusCode = ERROR_CATALOGUE[code].status
    this.title = ERROR_CATALOGUE[code].title
    this.issues = options.issues ?? []
    this.headers = options.headers ?? {}
  }
}

export function isBrokerError (error: unknown): error is BrokerError {
  return error instanceof BrokerError
}
