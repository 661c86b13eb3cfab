import { z } from 'zod'
import { E, qlikError } from './envelope.js'
import { validJsonBody } from './json-body.js'
import { objectId } from './ids.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import { bearerRoute } from './route.js'
import type { RouteContext, RouteDef } from './route.js'
import type { TenantRecord } from './tenant-store.js'
import type { TokenRecord } from './tokens.js'
import type { Space } from './types.js'

const createSchema = z.object({
  name: z.string().trim().min(1).max(256),
  type: z.enum(['shared', 'managed', 'data']),
  description: z.string().max(1024).optional()
})

function recordOf (core: SimulatorCore, ctx: RouteContext): TenantRecord | undefined {
  return ctx.site.kind === 'tenant' ? core.tenants.get(ctx.site.tenantId) : undefined
}

function list (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const record = recordOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const data = [...record.spaces.values()]
  const self = `https://${ctx.host}${ctx.path}${ctx.query === '' ? '' : `?${ctx.query}`}`
  return { status: 200, body: { data, meta: { count: data.length }, links: { self: { href: self } } } }
}

function create (core: SimulatorCore, ctx: RouteContext, caller: TokenRecord): SimResponse {
  const record = recordOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const body = validJsonBody(ctx.body, createSchema, 'space')
  if (!body.ok) return body.response
  for (const s of record.spaces.values()) {
    if (s.name === body.data.name) return qlikError(409, E.conflict, 'A space with this name already exists')
  }
  const owner = record.bots.get(caller.clientId)?.id ?? ''
  const id = objectId()
  const t = new Date(core.options.now()).toISOString()
  const href = `https://${ctx.host}/api/v1/spaces/${id}`
  const space: Space = {
    id,
    tenantId: record.tenant.id,
    name: body.data.name,
    type: body.data.type,
    description: body.data.description ?? '',
    ownerId: owner,
    createdAt: t,
    createdBy: owner,
    updatedAt: t,
    links: { self: { href }, assignments: { href: `${href}/assignments` } }
  }
  record.spaces.set(id, space)
  return { status: 201, body: space }
}

/** Spaces API, list and create only, on tenant hosts. */
export function spacesRoutes (core: SimulatorCore): RouteDef[] {
  const sites = 'tenant'
  return [
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/spaces', tier: 1, handle: (ctx) => list(core, ctx) }),
    bearerRoute({ sites, method: 'POST', pattern: '/api/v1/spaces', tier: 2, handle: (ctx, caller) => create(core, ctx, caller) })
  ]
}
