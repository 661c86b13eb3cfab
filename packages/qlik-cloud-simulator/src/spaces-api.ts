import { z } from 'zod'
import { E, qlikError } from './envelope.js'
import { validJsonBody } from './json-body.js'
import { objectId } from './ids.js'
import { tenantOf } from './caller.js'
import { countOwnerChange } from './content-store.js'
import { paginate, readPaging } from './cursor-paging.js'
import { iso, missing, ownerIdParam, pageRequest } from './owned-content.js'
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

const putSchema = z.object({
  name: z.string().trim().min(1).max(256),
  description: z.string().max(1024).optional(),
  ownerId: z.string().trim().min(1).optional()
})

const patchSchema = z.array(z.strictObject({
  op: z.literal('replace'),
  path: z.enum(['/name', '/description', '/ownerId']),
  value: z.string()
})).min(1)

/** `GET /api/v1/spaces?ownerId=` with `next`/`prev` cursors (reference §7). */
function list (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const record = tenantOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const request = pageRequest(ctx, { next: 'next', prev: 'prev' }, 10)
  const paging = readPaging(request)
  if (!paging.ok) return paging.response
  const ownerId = ownerIdParam(ctx)
  const spaces = [...record.spaces.values()].filter((space) => ownerId === undefined || space.ownerId === ownerId)
  const page = paginate(spaces, request, paging)
  if (!page.ok) return page.response
  return { status: 200, body: { data: page.page.data, meta: { count: spaces.length }, links: page.page.links } }
}

function spaceOf (core: SimulatorCore, ctx: RouteContext): { record: TenantRecord, space: Space } | { response: SimResponse } {
  const record = tenantOf(core, ctx)
  if (record === undefined) return { response: qlikError(404, E.notFound) }
  const id = ctx.params.spaceId ?? ''
  const space = record.spaces.get(id)
  return space === undefined ? { response: missing('space', id) } : { record, space }
}

function nameTaken (record: TenantRecord, name: string, except?: string): boolean {
  for (const s of record.spaces.values()) if (s.name === name && s.id !== except) return true
  return false
}

interface SpaceChange { name?: string | undefined, description?: string | undefined, ownerId?: string | undefined }

/** Validates then applies a change: an unknown owner or a taken name changes nothing. */
function applyChange (core: SimulatorCore, record: TenantRecord, space: Space, change: SpaceChange): SimResponse {
  if (change.ownerId !== undefined && !record.users.has(change.ownerId)) {
    return qlikError(400, E.badRequest, `ownerId: no user with id ${change.ownerId} on this tenant`)
  }
  if (change.name !== undefined) {
    if (change.name.trim() === '') return qlikError(400, E.badRequest, 'name: must not be empty')
    if (nameTaken(record, change.name, space.id)) return qlikError(409, E.conflict, 'A space with this name already exists')
    space.name = change.name
  }
  if (change.description !== undefined) space.description = change.description
  if (change.ownerId !== undefined) {
    space.ownerId = change.ownerId
    countOwnerChange(record.content, 'spaces', space.id)
  }
  space.updatedAt = iso(core.options.now())
  return { status: 200, body: space }
}

/** JSON-patch of `/name`, `/description`, `/ownerId` (reference §7: the owner change of a space). */
function patch (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = spaceOf(core, ctx)
  if ('response' in found) return found.response
  const body = validJsonBody(ctx.body, patchSchema, 'patch')
  if (!body.ok) return body.response
  const change: SpaceChange = {}
  for (const op of body.data) {
    const field = op.path.slice(1) as keyof SpaceChange
    change[field] = op.value
  }
  return applyChange(core, found.record, found.space, change)
}

function put (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = spaceOf(core, ctx)
  if ('response' in found) return found.response
  const body = validJsonBody(ctx.body, putSchema, 'space')
  if (!body.ok) return body.response
  return applyChange(core, found.record, found.space, { name: body.data.name, description: body.data.description ?? '', ownerId: body.data.ownerId })
}

function remove (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = spaceOf(core, ctx)
  if ('response' in found) return found.response
  found.record.spaces.delete(found.space.id)
  return { status: 204 }
}

function create (core: SimulatorCore, ctx: RouteContext, caller: TokenRecord): SimResponse {
  const record = tenantOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const body = validJsonBody(ctx.body, createSchema, 'space')
  if (!body.ok) return body.response
  if (nameTaken(record, body.data.name)) return qlikError(409, E.conflict, 'A space with this name already exists')
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

/** Spaces API on tenant hosts: list by owner, create, get, change (owner too), delete. */
export function spacesRoutes (core: SimulatorCore): RouteDef[] {
  const sites = 'tenant'
  return [
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/spaces', tier: 1, handle: (ctx) => list(core, ctx) }),
    bearerRoute({ sites, method: 'POST', pattern: '/api/v1/spaces', tier: 2, handle: (ctx, caller) => create(core, ctx, caller) }),
    bearerRoute({
      sites,
      method: 'GET',
      pattern: '/api/v1/spaces/{spaceId}',
      tier: 1,
      handle: (ctx) => {
        const found = spaceOf(core, ctx)
        return 'response' in found ? found.response : { status: 200, body: found.space }
      }
    }),
    bearerRoute({ sites, method: 'PATCH', pattern: '/api/v1/spaces/{spaceId}', tier: 2, handle: (ctx) => patch(core, ctx) }),
    bearerRoute({ sites, method: 'PUT', pattern: '/api/v1/spaces/{spaceId}', tier: 2, handle: (ctx) => put(core, ctx) }),
    bearerRoute({ sites, method: 'DELETE', pattern: '/api/v1/spaces/{spaceId}', tier: 2, handle: (ctx) => remove(core, ctx) })
  ]
}
