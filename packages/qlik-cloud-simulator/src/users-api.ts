import { clientOf } from './caller.js'
import { E, qlikError } from './envelope.js'
import { createUser, listUsers } from './users-directory.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import { bearerRoute } from './route.js'
import type { RouteContext, RouteDef } from './route.js'
import type { TenantRecord } from './tenant-store.js'
import type { TokenRecord } from './tokens.js'

/** Route handlers run only on tenant hosts (`sites: 'tenant'`). */
function recordOf (core: SimulatorCore, ctx: RouteContext): TenantRecord | undefined {
  return ctx.site.kind === 'tenant' ? core.tenants.get(ctx.site.tenantId) : undefined
}

/** `/users/me` is a redirect to the caller's own user, as Qlik documents it (docs/reference/qlik-cloud-api.md §11). */
function me (core: SimulatorCore, ctx: RouteContext, caller: TokenRecord): SimResponse {
  const record = recordOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const user = core.tenants.ensureBotUser(record, clientOf(core, caller))
  return { status: 302, headers: { location: `https://${ctx.host}/api/v1/users/${user.id}` } }
}

function one (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const user = recordOf(core, ctx)?.users.get(ctx.params.userId ?? '')
  return user === undefined ? qlikError(404, E.notFound) : { status: 200, body: user }
}

/** A few of the Users API calls (reference §6, §7), on tenant hosts only. */
export function usersRoutes (core: SimulatorCore): RouteDef[] {
  const sites = 'tenant'
  return [
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/users/me', tier: 1, handle: (ctx, caller) => me(core, ctx, caller) }),
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/users/{userId}', tier: 1, handle: (ctx) => one(core, ctx) }),
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/users', tier: 1, handle: (ctx) => listUsers(core, ctx) }),
    bearerRoute({ sites, method: 'POST', pattern: '/api/v1/users', tier: 2, handle: (ctx) => createUser(core, ctx) })
  ]
}
