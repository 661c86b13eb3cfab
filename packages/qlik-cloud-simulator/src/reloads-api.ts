import { z } from 'zod'
import { E, qlikError } from './envelope.js'
import { objectId } from './ids.js'
import { validJsonBody } from './json-body.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import { bearerRoute } from './route.js'
import type { RouteContext, RouteDef } from './route.js'
import type { TokenRecord } from './tokens.js'

const reloadSchema = z.object({
  appId: z.string().min(1),
  partial: z.boolean().optional()
})

/**
 * `POST /api/v1/reloads` queues an app reload. It is here for its rate limit,
 * a "special" tier of its own (reference §11): the simulator keeps no apps,
 * so every reload is accepted as queued and never runs.
 */
function queue (core: SimulatorCore, ctx: RouteContext, caller: TokenRecord): SimResponse {
  if (ctx.site.kind !== 'tenant') return qlikError(404, E.notFound)
  const body = validJsonBody(ctx.body, reloadSchema, 'reload')
  if (!body.ok) return body.response
  const id = objectId()
  const record = core.tenants.get(ctx.site.tenantId)
  return {
    status: 201,
    body: {
      id,
      appId: body.data.appId,
      tenantId: ctx.site.tenantId,
      userId: record?.bots.get(caller.clientId)?.id ?? '',
      type: 'hub',
      status: 'QUEUED',
      partial: body.data.partial ?? false,
      creationTime: new Date(core.options.now()).toISOString(),
      links: { self: { href: `https://${ctx.host}/api/v1/reloads/${id}` } }
    }
  }
}

export function reloadsRoutes (core: SimulatorCore): RouteDef[] {
  return [
    bearerRoute({ sites: 'tenant', method: 'POST', pattern: '/api/v1/reloads', tier: 2, handle: (ctx, caller) => queue(core, ctx, caller) })
  ]
}
