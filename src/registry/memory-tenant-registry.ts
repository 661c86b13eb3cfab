import { positionOf, withAlias, type RegisteredTenant, type TenantRegistry } from './tenant-registry.js'

/** The tenant registry in process, for a single replica without Redis (the demo, tests); lost on restart. */
export function createMemoryTenantRegistry (): TenantRegistry {
  const regions = new Map<string, { byId: Map<string, RegisteredTenant>, byHost: Map<string, string>, order: string[] }>()

  function region (code: string) {
    let entry = regions.get(code)
    if (entry === undefined) regions.set(code, entry = { byId: new Map(), byHost: new Map(), order: [] })
    return entry
  }

  /** Gives a hostname to one tenant, taking it from any other that still lists it. */
  function claim (entry: { byId: Map<string, RegisteredTenant>, byHost: Map<string, string> }, hostname: string, id: string): void {
    const owner = entry.byHost.get(hostname)
    const previous = owner === undefined || owner === id ? undefined : entry.byId.get(owner)
    if (previous !== undefined) previous.hostnames = previous.hostnames.filter((name) => name !== hostname)
    entry.byHost.set(hostname, id)
  }

  const copy = (tenant: RegisteredTenant | undefined): RegisteredTenant | undefined => (tenant === undefined ? undefined : { ...tenant, hostnames: [...tenant.hostnames] })

  return {
    kind: 'memory',
    async record (tenant) {
      const entry = region(tenant.region)
      const position = positionOf(tenant)
      if (!entry.byId.has(tenant.id)) {
        // Sorted insert: creation order, then id.
        let index = entry.order.length
        while (index > 0 && (entry.order[index - 1] ?? '') > position) index--
        entry.order.splice(index, 0, position)
      }
      entry.byId.set(tenant.id, copy(tenant) as RegisteredTenant)
      for (const hostname of tenant.hostnames) claim(entry, hostname, tenant.id)
    },
    async update (code, id, change, at) {
      const entry = region(code)
      const tenant = entry.byId.get(id)
      if (tenant === undefined) return undefined
      if (change.status !== undefined) tenant.status = change.status
      if (change.name !== undefined) tenant.name = change.name
      const hostnames = change.hostnames ?? (change.alias === undefined ? undefined : withAlias(tenant.hostnames, change.alias))
      if (hostnames !== undefined) {
        for (const old of tenant.hostnames) if (!hostnames.includes(old) && entry.byHost.get(old) === id) entry.byHost.delete(old)
        tenant.hostnames = [...hostnames]
        for (const hostname of hostnames) claim(entry, hostname, id)
      }
      tenant.updatedAt = at
      return copy(tenant)
    },
    async get (code, id) {
      return copy(regions.get(code)?.byId.get(id))
    },
    async findByHostname (code, hostname) {
      const entry = regions.get(code)
      const id = entry?.byHost.get(hostname)
      const tenant = id === undefined ? undefined : entry?.byId.get(id)
      return tenant?.hostnames.includes(hostname) === true ? copy(tenant) : undefined
    },
    async page (code, after, count) {
      const entry = regions.get(code)
      if (entry === undefined) return { tenants: [], positions: [], last: undefined, more: false }
      const start = after === undefined ? 0 : entry.order.findIndex((position) => position > after)
      const positions = start === -1 ? [] : entry.order.slice(start, start + count)
      const tenants = positions.map((position) => copy(entry.byId.get(position.slice(16))) as RegisteredTenant)
      return { tenants, positions, last: positions.at(-1), more: start !== -1 && start + count < entry.order.length }
    },
    async close () {
      regions.clear()
    }
  }
}
