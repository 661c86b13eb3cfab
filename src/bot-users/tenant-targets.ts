import type { RegionConfig } from '../config/load-config.js'
import type { TenantHostResolver } from '../tenants/tenant-host.js'
import { parseTenantReference } from '../regions/tenant-reference.js'
import type { RegisteredTenant, TenantRegistry } from '../registry/tenant-registry.js'
import type { TenantTarget } from './migrations.js'

const REGISTRY_PAGE = 200
export const MAX_TENANTS_PER_JOB = 1000

/**
 * The tenants a plan or job covers: the ones named (ids or hostnames), or,
 * when none are named, every tenant the broker's registry knows in the region
 * (Qlik has no tenant list for regional clients). Each is resolved to its
 * host and all the names policy judges it by.
 */
export async function resolveTenantTargets (options: {
  region: RegionConfig
  refs: readonly string[] | undefined
  caller: string
  registry: TenantRegistry
  hosts: TenantHostResolver
  requestId: string
}): Promise<TenantTarget[]> {
  const { region, registry } = options
  const target = (ref: string, host: string, registered: RegisteredTenant | undefined): TenantTarget => ({
    ref,
    host,
    names: [...new Set([ref, host, ...(registered === undefined ? [] : [registered.id, ...registered.hostnames])])],
    createdByCaller: registered?.createdBy === options.caller
  })

  if (options.refs === undefined) {
    const targets: TenantTarget[] = []
    let after: string | undefined
    for (;;) {
      const page = await registry.page(region.code, after, REGISTRY_PAGE)
      for (const tenant of page.tenants) {
        const host = tenant.hostnames[0]
        if (host !== undefined && targets.length < MAX_TENANTS_PER_JOB) targets.push(target(tenant.id, host, tenant))
      }
      if (!page.more || page.last === undefined || targets.length >= MAX_TENANTS_PER_JOB) return targets
      after = page.last
    }
  }

  const targets: TenantTarget[] = []
  for (const ref of options.refs) {
    const reference = parseTenantReference(ref, region)
    if (reference.kind === 'hostname') {
      targets.push(target(ref, reference.hostname, await registry.findByHostname(region.code, reference.hostname)))
      continue
    }
    const registered = await registry.get(region.code, reference.id)
    const host = registered?.hostnames[0] ?? await options.hosts.hostOf(region, reference.id, options.requestId)
    targets.push(target(ref, host, registered))
  }
  // The same tenant named twice (id and hostname) is one target.
  return [...new Map(targets.map((entry) => [entry.host, entry])).values()]
}
