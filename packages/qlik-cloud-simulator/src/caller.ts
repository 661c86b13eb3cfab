import type { ClientRecord } from './clients.js'
import type { SimulatorCore } from './core.js'
import type { RouteContext } from './route.js'
import type { TenantRecord } from './tenant-store.js'
import type { TokenRecord } from './tokens.js'
import type { User } from './types.js'

/** The tenant of a tenant-host request (routes with `sites: 'tenant'`). */
export function tenantOf (core: SimulatorCore, ctx: RouteContext): TenantRecord | undefined {
  return ctx.site.kind === 'tenant' ? core.tenants.get(ctx.site.tenantId) : undefined
}

/** The client a token was minted for; a rotated-away client keeps its id and a default name. */
export function clientOf (core: SimulatorCore, caller: TokenRecord): ClientRecord {
  const client = core.clients.get(caller.region)
  if (client !== undefined && client.clientId === caller.clientId) return client
  return { region: caller.region, clientId: caller.clientId, name: `${caller.region.toUpperCase()} OAuth Client` }
}

/** The bot user acting behind a token on this tenant (docs/reference/qlik-cloud-api.md §2.6). */
export function callerUser (core: SimulatorCore, record: TenantRecord, caller: TokenRecord): User {
  return core.tenants.ensureBotUser(record, clientOf(core, caller))
}
