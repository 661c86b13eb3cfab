import type { RegionConfig } from '../config/load-config.js'
import { BrokerError } from '../http/broker-error.js'
import type { QlikGateway } from '../qlik/qlik-gateway.js'
import { checkTenantHost } from '../regions/tenant-reference.js'
import type { RegisteredTenant, TenantRegistry } from '../registry/tenant-registry.js'

/**
 * Which Qlik host serves a tenant id. Qlik documents GET/PATCH of a tenant
 * (and every tenant-level call) on the tenant's own host, and only create,
 * deactivate and reactivate on the register host
 * (docs/reference/qlik-cloud-api.md §3, §11).
 */
export interface TenantHostResolver {
  /**
   * The tenant's host, or a 422 QB_TENANT_HOST_UNKNOWN asking the caller for
   * the hostname. `hostname` is one the caller sent (already checked to be a
   * tenant host of the region): used for a tenant the registry does not know,
   * refused when the registry knows the tenant under other hostnames.
   */
  hostOf (region: RegionConfig, tenantId: string, requestId: string, hostname?: string): Promise<string>
}

export interface TenantHostResolverOptions {
  registry: TenantRegistry
  gateway: QlikGateway
  /**
   * Ask the register host (`GET /api/v1/tenants/{id}`) for an id the
   * registry does not know. Unconfirmed: Qlik does not document that the
   * register host serves it (§11 marks it [U]).
   */
  askRegister: boolean
  now?: () => number
}

/** Register answers are kept a while: a tenant's first hostname never changes. */
const REGISTER_ANSWER_TTL_MS = 10 * 60_000
const MAX_REMEMBERED = 10_000

/** The first hostname of a registered tenant (Qlik's generated name, which never changes), if it is a tenant host of the region. */
export function primaryHost (tenant: RegisteredTenant, region: RegionConfig): string | undefined {
  const first = tenant.hostnames[0]
  return first === undefined ? undefined : checkTenantHost(first, region)
}

export function createTenantHostResolver (options: TenantHostResolverOptions): TenantHostResolver {
  const { registry, gateway } = options
  const now = options.now ?? Date.now
  const remembered = new Map<string, { hostname: string, until: number }>()

  const unknown = (region: RegionConfig, tenantId: string, why: string): BrokerError => new BrokerError('QB_TENANT_HOST_UNKNOWN',
    `the broker cannot tell which host serves tenant "${tenantId}" in region "${region.code}" (${why}); send the tenant's hostname instead: ` +
    `the \`qlik-tenant-hostname\` header on /regions/${region.code}/api/v1/tenants/{tenantId}, or the hostname in place of the id on /regions/${region.code}/tenants/{tenant}/api/v1/…`,
    { issues: [{ pointer: '/headers/qlik-tenant-hostname', message: `a hostname of the tenant, <name>.${region.tenantDomain}` }] })

  async function askRegister (region: RegionConfig, tenantId: string, requestId: string): Promise<string> {
    const key = `${region.code}:${tenantId}`
    const cached = remembered.get(key)
    if (cached !== undefined && cached.until > now()) return cached.hostname
    const response = await gateway.forward({
      region,
      host: region.registerHost,
      method: 'GET',
      path: `/api/v1/tenants/${encodeURIComponent(tenantId)}`,
      headers: { accept: 'application/json', 'x-request-id': requestId },
      requestId
    })
    const text = await response.body.text()
    // A 4xx means the register host does not give it: an unknown tenant, or (undocumented) no such route there.
    if (response.statusCode >= 400 && response.statusCode < 500) throw unknown(region, tenantId, `the register host answered HTTP ${response.statusCode}`)
    if (response.statusCode !== 200) throw new BrokerError('QB_UPSTREAM_UNREACHABLE', `Qlik answered HTTP ${response.statusCode} when the broker looked up tenant "${tenantId}"`)
    let hostnames: unknown
    try { hostnames = (JSON.parse(text) as { hostnames?: unknown }).hostnames } catch {}
    const first = Array.isArray(hostnames) && typeof hostnames[0] === 'string' ? hostnames[0].toLowerCase() : undefined
    const hostname = first === undefined ? undefined : checkTenantHost(first, region)
    if (hostname === undefined) throw new BrokerError('QB_INVALID_TENANT', `tenant "${tenantId}" has no hostname inside ${region.tenantDomain}; no token is sent to it`)
    if (remembered.size >= MAX_REMEMBERED) remembered.clear()
    remembered.set(key, { hostname, until: now() + REGISTER_ANSWER_TTL_MS })
    return hostname
  }

  return {
    async hostOf (region, tenantId, requestId, hostname) {
      let registered: RegisteredTenant | undefined
      try {
        registered = await registry.get(region.code, tenantId)
      } catch (error) {
        // The register host (when asked) or the caller's hostname can still place it.
        if (!options.askRegister && hostname === undefined) throw new BrokerError('QB_REGISTRY_UNAVAILABLE', 'the broker cannot read its tenant registry right now, so it cannot tell which host serves this tenant; retry shortly, or send the hostname', { headers: { 'retry-after': '5' }, cause: error })
      }
      const host = registered === undefined ? undefined : primaryHost(registered, region)
      if (host !== undefined && registered !== undefined) {
        if (hostname !== undefined && !registered.hostnames.includes(hostname)) {
          throw new BrokerError('QB_INVALID_TENANT', `"${hostname}" is not a hostname of tenant "${tenantId}" (it has ${registered.hostnames.join(', ')})`, { issues: [{ pointer: '/headers/qlik-tenant-hostname', message: 'not a hostname of this tenant' }] })
        }
        return host
      }
      if (hostname !== undefined) return hostname
      if (!options.askRegister) throw unknown(region, tenantId, 'it is not in the broker\'s tenant registry and QLIK_TENANT_HOST_LOOKUP=registry')
      return await askRegister(region, tenantId, requestId)
    }
  }
}
