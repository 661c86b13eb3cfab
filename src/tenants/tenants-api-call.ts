import type { TenantAction } from '../config/schema.js'
import { BrokerError } from '../http/broker-error.js'

export interface TenantsApiCall {
  /** The lifecycle action the call needs, as on `/regions/{region}/api/v1/tenants…`. */
  action: TenantAction
  /** The tenant id in the path (`/api/v1/tenants/{id}…`); undefined for the collection and `/tenants/me`. */
  tenantId?: string
}

/** `/api/v1/tenants` and below, in any case, as a path with nothing encoded spells it. */
const LITERAL_TENANTS_API = /^\/api\/v1\/tenants(?:\/|$)/i

/**
 * Whether a tenant-level call reaches Qlik's Tenants API, and which
 * lifecycle action it then needs: a `tenantApi` grant on `/api/v1/**` must
 * not read or rename tenants the lifecycle grants do not cover. The path is
 * compared decoded and case-insensitively, so `/api/v1/%74enants` or
 * `/API/V1/Tenants` cannot pass as another API.
 */
export function tenantsApiCall (method: string, rawPath: string): TenantsApiCall | undefined {
  // Without a percent sign the path reads as it is written: most calls are told apart without decoding a segment.
  if (!rawPath.includes('%') && !LITERAL_TENANTS_API.test(rawPath)) return undefined
  const segments = rawPath.split('/').slice(1).map(decodeSegment)
  if (segments.at(-1) === '') segments.pop()
  const [api, version, collection, id, ...rest] = segments
  if (api?.toLowerCase() !== 'api' || version?.toLowerCase() !== 'v1' || collection?.toLowerCase() !== 'tenants') return undefined
  const reads = method === 'GET' || method === 'HEAD'
  if (id === undefined) return { action: method === 'POST' ? 'tenants:create' : reads ? 'tenants:read' : 'tenants:update' }
  if (id.toLowerCase() === 'me' && rest.length === 0) return { action: reads ? 'tenants:read' : 'tenants:update' }
  const verb = rest.length === 2 && rest[0]?.toLowerCase() === 'actions' ? rest[1]?.toLowerCase() : undefined
  if (verb === 'deactivate') return { action: 'tenants:deactivate', tenantId: id }
  if (verb === 'reactivate') return { action: 'tenants:reactivate', tenantId: id }
  return { action: reads ? 'tenants:read' : 'tenants:update', tenantId: id }
}

function decodeSegment (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new BrokerError('QB_INVALID_PATH', 'the Qlik path has a malformed percent-encoding', { issues: [{ pointer: '/params/*', message: 'malformed percent-encoding' }] })
  }
}
