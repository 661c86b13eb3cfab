import type { Caller } from '../auth/caller.js'
import { evaluatePolicy } from '../auth/policy.js'
import { BrokerError } from '../http/broker-error.js'
import { decodeCursor, encodeCursor, type RegisteredTenant, type TenantRegistry } from './tenant-registry.js'

export interface ListQuery {
  region: string
  limit: number
  cursor?: string | undefined
  status?: string | undefined
}

export interface ListResult {
  tenants: RegisteredTenant[]
  /** Present when more tenants may follow. */
  nextCursor?: string
}

/** Registry entries read per request at most, so a filter matching little cannot make one request scan a whole region. */
const SCAN_BUDGET = 2_000
const BATCH = 200

/**
 * One page of the region's registered tenants the caller may read (policy
 * `tenants:read`, `created` scope included), optionally of one status, in
 * creation order. Filtering happens while paging, so a page can hold fewer
 * than `limit` tenants and still carry a cursor: keep following it.
 */
export async function listVisibleTenants (registry: TenantRegistry, caller: Caller, query: ListQuery): Promise<ListResult> {
  let after = query.cursor === undefined ? undefined : decodeCursor(query.cursor)
  const tenants: RegisteredTenant[] = []
  let scanned = 0
  try {
    for (;;) {
      const page = await registry.page(query.region, after, Math.min(BATCH, SCAN_BUDGET - scanned))
      for (const [index, tenant] of page.tenants.entries()) {
        const position = page.positions[index] ?? ''
        scanned++
        if (visible(caller, tenant, query.status)) {
          tenants.push(tenant)
          if (tenants.length === query.limit) {
            const lastOfPage = position === page.last
            return !lastOfPage || page.more ? { tenants, nextCursor: encodeCursor(position) } : { tenants }
          }
        }
      }
      after = page.last ?? after
      if (!page.more) return { tenants }
      if (scanned >= SCAN_BUDGET || after === undefined) return after === undefined ? { tenants } : { tenants, nextCursor: encodeCursor(after) }
    }
  } catch (error) {
    if (error instanceof BrokerError) throw error
    throw new BrokerError('QB_REGISTRY_UNAVAILABLE', 'the broker cannot read its tenant registry right now; retry shortly', { headers: { 'retry-after': '5' }, cause: error })
  }
}

function visible (caller: Caller, tenant: RegisteredTenant, status: string | undefined): boolean {
  if (status !== undefined && tenant.status !== status) return false
  return evaluatePolicy(caller, {
    kind: 'action',
    region: tenant.region,
    action: 'tenants:read',
    tenants: [tenant.id, ...tenant.hostnames],
    createdByCaller: tenant.createdBy === caller.name
  }).allowed
}
