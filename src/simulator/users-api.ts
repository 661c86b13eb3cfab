import { z } from 'zod'
import { E, qlikError } from './envelope.js'
import { validJsonBody } from './json-body.js'
import { objectId } from './ids.js'
import type { ClientRecord } from './clients.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import { bearerRoute } from './route.js'
import type { RouteContext, RouteDef } from './route.js'
import type { TenantRecord } from './tenant-store.js'
import type { TokenRecord } from './tokens.js'
import type { User } from './types.js'

const createSchema = z.object({
  name: z.string().trim().min(1),
  email: z.email(),
  subject: z.string().min(1).optional(),
  roles: z.array(z.string().min(1)).optional(),
  status: z.enum(['active', 'invited', 'disabled']).optional()
})

const FILTERABLE = new Set(['id', 'tenantId', 'clientId', 'subject', 'name', 'email', 'status'])
// `field eq "value"` with `\\` and `\"` escapes, the one form the broker needs (reference §7).
const FILTER = /^\s*(\w+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/

/** Route handlers run only on tenant hosts (`sites: 'tenant'`). */
function recordOf (core: SimulatorCore, ctx: RouteContext): TenantRecord | undefined {
  return ctx.site.kind === 'tenant' ? core.tenants.get(ctx.site.tenantId) : undefined
}

function clientOf (core: SimulatorCore, caller: TokenRecord): ClientRecord {
  const client = core.clients.get(caller.region)
  if (client !== undefined && client.clientId === caller.clientId) return client
  return { region: caller.region, clientId: caller.clientId, name: `${caller.region.toUpperCase()} OAuth Client` }
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

function list (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const record = recordOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const params = new URLSearchParams(ctx.query)
  const limitParam = params.get('limit')
  const limit = limitParam === null ? 20 : Number(limitParam)
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return qlikError(400, E.badRequest, 'limit must be an integer from 1 to 100')
  const nextParam = params.get('next')
  const offset = nextParam === null ? 0 : Number(nextParam)
  if (!Number.isInteger(offset) || offset < 0) return qlikError(400, E.badRequest, 'next is not a valid cursor')

  let users = [...record.users.values()]
  const filter = params.get('filter')
  if (filter !== null) {
    const m = FILTER.exec(filter)
    const fieldName = m?.[1]
    if (m === null || fieldName === undefined || !FILTERABLE.has(fieldName)) {
      return qlikError(400, E.badRequest, `Unsupported filter; use <field> eq "<value>" with one of ${[...FILTERABLE].join(', ')}`)
    }
    const value = (m[2] ?? '').replace(/\\(.)/g, '$1')
    const key = fieldName as keyof User
    users = users.filter((u) => u[key] === value)
  }

  const page = users.slice(offset, offset + limit)
  const base = `https://${ctx.host}${ctx.path}`
  const self = ctx.query === '' ? base : `${base}?${ctx.query}`
  const links: Record<string, { href: string }> = { self: { href: self } }
  if (offset + limit < users.length) {
    params.set('next', String(offset + limit))
    links.next = { href: `${base}?${params.toString()}` }
  }
  return { status: 200, body: { data: page, links } }
}

function create (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const record = recordOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const body = validJsonBody(ctx.body, createSchema, 'user')
  if (!body.ok) return body.response
  const id = objectId()
  const subject = body.data.subject ?? `sim|${id}`
  for (const u of record.users.values()) {
    if (u.subject === subject) return qlikError(409, E.conflict, 'A user with this subject already exists')
  }
  const t = new Date(core.options.now()).toISOString()
  const user: User = {
    id,
    tenantId: record.tenant.id,
    subject,
    name: body.data.name,
    email: body.data.email,
    roles: body.data.roles ?? [],
    status: body.data.status ?? 'active',
    created: t,
    lastUpdated: t
  }
  record.users.set(id, user)
  return { status: 201, body: user }
}

/** A few of the Users API calls (reference §6, §7), on tenant hosts only. */
export function usersRoutes (core: SimulatorCore): RouteDef[] {
  const sites = 'tenant'
  return [
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/users/me', tier: 1, handle: (ctx, caller) => me(core, ctx, caller) }),
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/users/{userId}', tier: 1, handle: (ctx) => one(core, ctx) }),
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/users', tier: 1, handle: (ctx) => list(core, ctx) }),
    bearerRoute({ sites, method: 'POST', pattern: '/api/v1/users', tier: 2, handle: (ctx) => create(core, ctx) })
  ]
}
