import { traceId } from './ids.js'
import type { SimResponse } from './http-utils.js'

/** One entry of Qlik's `errors[]` envelope (reference §4); `status` is a string. */
export interface QlikError {
  code: string
  title: string
  detail?: string
  status?: string
  meta?: unknown
}

export interface ErrorSpec {
  code: string
  title: string
}

// Codes seen in Qlik's docs where known; the rest are the generic HTTP-<status>
// form Qlik uses for 429. The invalid_client code is unconfirmed upstream
// (reference §2.4), so it lives here as one constant.
export const E = {
  badRequest: { code: 'HTTP-400', title: 'Bad Request' },
  unauthorized: { code: 'HTTP-401', title: 'Unauthorized' },
  forbidden: { code: 'HTTP-403', title: 'Forbidden' },
  notFound: { code: 'HTTP-404', title: 'Not Found' },
  conflict: { code: 'HTTP-409', title: 'Conflict' },
  preconditionFailed: { code: 'HTTP-412', title: 'Precondition Failed' },
  payloadTooLarge: { code: 'HTTP-413', title: 'Payload Too Large' },
  rateLimited: { code: 'HTTP-429', title: 'API rate limit reached.' },
  internal: { code: 'HTTP-500', title: 'Internal Server Error' },
  unavailable: { code: 'HTTP-503', title: 'Service Unavailable' },
  tenantNotFound: { code: 'TENANTS-8', title: 'Not found' },
  // Create-tenant license errors (§11); the titles are ours, the codes Qlik's.
  licenseKeyMissing: { code: 'TENANTS-21', title: 'License key is missing' },
  licenseQuotaReached: { code: 'TENANTS-22', title: 'License quota reached' },
  licenseInvalid: { code: 'TENANTS-23', title: 'Invalid license' },
  tenantDeactivated: { code: 'TENANT_DEACTIVATED', title: 'Tenant has been deactivated. Contact your administrator for more details.' },
  invalidClient: { code: 'OAUTH-1', title: 'invalid_client' },
  invalidRequest: { code: 'OAUTH-2', title: 'invalid_request' },
  unsupportedGrantType: { code: 'OAUTH-3', title: 'unsupported_grant_type' }
} as const satisfies Record<string, ErrorSpec>

/** The standard envelope: `{ errors: [{ code, title, detail?, status }], traceId }`. */
export function qlikError (status: number, spec: ErrorSpec, detail?: string, headers?: Record<string, string>): SimResponse {
  const error: QlikError = { code: spec.code, title: spec.title }
  if (detail !== undefined) error.detail = detail
  error.status = String(status)
  const response: SimResponse = { status, body: { errors: [error], traceId: traceId() } }
  if (headers !== undefined) response.headers = headers
  return response
}

/** Rate limited (reference §5): no `status` in the error, `Retry-After` in seconds. */
export function rateLimitError (retryAfterSeconds: number): SimResponse {
  return {
    status: 429,
    headers: { 'retry-after': String(retryAfterSeconds) },
    body: {
      errors: [{
        code: E.rateLimited.code,
        title: E.rateLimited.title,
        detail: `You need to wait ${retryAfterSeconds} seconds until limit is lifted.`
      }],
      traceId: traceId()
    }
  }
}

/** Tenants PATCH 400 variant (reference §3.5): `{ code, title, meta? }` only, no status/detail/traceId. */
export function patchError (title: string, meta?: ErrorSpec | ErrorSpec[]): SimResponse {
  const error: QlikError = { code: E.badRequest.code, title }
  if (meta !== undefined) error.meta = meta
  return { status: 400, body: { errors: [error] } }
}
