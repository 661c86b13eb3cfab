import type { Caller } from '../auth/caller.js'
import { tenantKey } from '../auth/policy.js'
import { BrokerError } from '../http/broker-error.js'

/** A tenant the broker created, as Qlik last described it to the broker. */
export interface RegisteredTenant {
  id: string
  name: string
  /** First is the display hostname, the rest aliases (lowercase). */
  hostnames: string[]
  region: string
  datacenter?: string
  /** Last status Qlik reported: active, disabled, … */
  status: string
  /** The caller that created it through the broker. */
  createdBy: string
  createdAt: string
  updatedAt: string
}

export interface TenantChange {
  status?: string
  name?: string
  /** The alias hostname (`/hostnames/1`). */
  alias?: string
  /** Every hostname, as a Qlik answer listed them (replaces the list). */
  hostnames?: string[]
}

export interface RegistryPage {
  tenants: RegisteredTenant[]
  /** Position of each tenant in the listing order, for cursors. */
  positions: string[]
  /** Position of the last entry read (an entry whose tenant vanished meanwhile included), to resume after. */
  last: string | undefined
  /** Whether tenants after the last one exist. */
  more: boolean
}

/**
 * The broker's own list of the tenants it created (Qlik has no tenant list
 * for regional clients), per region, in creation order. It also answers the
 * `tenants: 'created'` policy scope.
 */
export interface TenantRegistry {
  readonly kind: string
  record (tenant: RegisteredTenant): Promise<void>
  /** Applies a change to a registered tenant; undefined (and nothing stored) for a tenant the broker did not create. */
  update (region: string, id: string, change: TenantChange, at: string): Promise<RegisteredTenant | undefined>
  get (region: string, id: string): Promise<RegisteredTenant | undefined>
  /**
   * The registered tenant that holds this hostname now. A hostname belongs
   * to one tenant at a time (Qlik refuses a taken alias): giving it to one
   * tenant takes it from any other, and an index entry the tenant no longer
   * lists is not an answer.
   */
  findByHostname (region: string, hostname: string): Promise<RegisteredTenant | undefined>
  /** Up to `count` tenants after `after` (a position; from the start when undefined), in creation order. */
  page (region: string, after: string | undefined, count: number): Promise<RegistryPage>
  close (): Promise<void>
}

/** A tenant's hostnames with its alias (`/hostnames/1`) replaced. */
export function withAlias (hostnames: readonly string[], alias: string): string[] {
  const next = [...hostnames]
  next[Math.min(1, next.length)] = alias
  return next
}

/** Creation time, then id: a total order that pagination can resume from exactly. */
export function positionOf (tenant: Pick<RegisteredTenant, 'createdAt' | 'id'>): string {
  const ms = Date.parse(tenant.createdAt)
  return `${String(Number.isFinite(ms) ? ms : 0).padStart(15, '0')}:${tenant.id}`
}

const POSITION = /^\d{15}:[A-Za-z0-9_-]{1,64}$/

/** Cursors are opaque to callers; inside, a position. */
export function encodeCursor (position: string): string {
  return Buffer.from(position, 'utf8').toString('base64url')
}

export function decodeCursor (cursor: string): string {
  const position = Buffer.from(cursor, 'base64url').toString('utf8')
  if (!POSITION.test(position)) throw new BrokerError('QB_INVALID_REQUEST', 'the cursor is not one this broker gave out', { issues: [{ pointer: '/querystring/cursor', message: 'not a valid cursor' }] })
  return position
}

/** What the policy needs to know about a target tenant: every name it goes by and whether this caller created it. */
export interface PolicyTarget {
  tenants: string[]
  createdByCaller: boolean
}

/**
 * Looks the target tenant up in the registry, but only for callers with a
 * grant in the region that lists tenants or says `created` (an all-tenants
 * grant needs neither names nor creator), so most requests cost nothing;
 * `always` looks it up for every caller (to route by it), and then a
 * registry that cannot be read only fails callers whose grants need it.
 * A registry that cannot be read is a 503 for those: `created` cannot be proven.
 * `unregistered` says the registry was read and holds none of the names.
 */
export async function policyTarget (registry: TenantRegistry, caller: Caller, region: string, given: readonly string[], options: { always?: boolean } = {}): Promise<PolicyTarget & { tenant?: RegisteredTenant, unregistered?: true }> {
  const names = given.filter((name) => name !== '')
  const needsRegistry = names.length > 0 && caller.grants.some((grant) => grant.tenants !== '*' && (grant.regions === '*' || grant.regions.includes(region)))
  if (!needsRegistry && (options.always !== true || names.length === 0)) return { tenants: names, createdByCaller: false }
  let tenant: RegisteredTenant | undefined
  try {
    for (const name of names) {
      tenant = name.includes('.') ? await registry.findByHostname(region, tenantKey(name)) : await registry.get(region, name)
      if (tenant !== undefined) break
    }
  } catch (error) {
    if (!needsRegistry) return { tenants: names, createdByCaller: false }
    throw new BrokerError('QB_REGISTRY_UNAVAILABLE', 'the broker cannot read its tenant registry right now, so it cannot tell which tenants this caller created; retry shortly', { headers: { 'retry-after': '5' }, cause: error })
  }
  // The registry answered for every name and holds none of them: callers may skip writes that only refresh a registered tenant.
  if (tenant === undefined) return { tenants: names, createdByCaller: false, unregistered: true }
  return { tenants: allNames(names, tenant), createdByCaller: tenant.createdBy === caller.name, tenant }
}

/** The names given, then the tenant's id and hostnames not among them (a handful: a list search beats a Set). */
function allNames (given: readonly string[], tenant: RegisteredTenant): string[] {
  const names = [...given]
  if (!names.includes(tenant.id)) names.push(tenant.id)
  for (const hostname of tenant.hostnames) {
    if (!names.includes(hostname)) names.push(hostname)
  }
  return names
}
