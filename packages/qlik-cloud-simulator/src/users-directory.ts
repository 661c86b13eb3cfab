import { z } from 'zod'
import { tenantOf } from './caller.js'
import { paginate, readPaging } from './cursor-paging.js'
import { E, qlikError } from './envelope.js'
import { validJsonBody } from './json-body.js'
import { findRole } from './roles.js'
import { compileFilter, FilterError } from './scim-filter.js'
import { newUser } from './user-records.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import type { AssignedRole } from './roles.js'
import type { RouteContext } from './route.js'
import type { User } from './types.js'

// Listing and creating users (docs/reference/qlik-cloud-api.md §7, §11).

const FILTERABLE = ['id', 'tenantId', 'clientId', 'subject', 'name', 'email', 'status', 'createdAt', 'lastUpdatedAt'] as const satisfies ReadonlyArray<keyof User>

const roleRef = z.union([
  z.strictObject({ id: z.string().min(1) }),
  z.strictObject({ name: z.string().min(1) })
])

// §11: `POST /api/v1/users` needs only `subject`.
const createSchema = z.object({
  subject: z.string().trim().min(1),
  tenantId: z.string().min(1).optional(),
  name: z.string().trim().min(1).optional(),
  email: z.email().optional(),
  status: z.enum(['active', 'invited', 'disabled']).optional(),
  assignedRoles: z.array(roleRef).max(50).optional()
})

export function listUsers (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const record = tenantOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const request = {
    query: ctx.query,
    base: `https://${ctx.host}${ctx.path}`,
    params: { next: 'next', prev: 'prev' },
    defaultLimit: 20,
    maxLimit: 100
  }
  const paging = readPaging(request)
  if (!paging.ok) return paging.response
  let users = [...record.users.values()]
  const filter = new URLSearchParams(ctx.query).get('filter')
  if (filter !== null) {
    try {
      users = users.filter(compileFilter<User>(filter, FILTERABLE))
    } catch (err) {
      if (err instanceof FilterError) return qlikError(400, E.badRequest, `Invalid filter: ${err.message}`)
      throw err
    }
  }
  const page = paginate(users, request, paging)
  return page.ok ? { status: 200, body: page.page } : page.response
}

export function createUser (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const record = tenantOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const body = validJsonBody(ctx.body, createSchema, 'user')
  if (!body.ok) return body.response
  const input = body.data
  if (input.tenantId !== undefined && input.tenantId !== record.tenant.id) {
    return qlikError(400, E.badRequest, 'tenantId: must be the id of this tenant')
  }
  const assignedRoles: AssignedRole[] = []
  for (const ref of input.assignedRoles ?? []) {
    const role = findRole(ref)
    if (role === undefined) return qlikError(400, E.badRequest, `assignedRoles: no role ${'id' in ref ? `with id ${ref.id}` : `named ${ref.name}`}`)
    if (!assignedRoles.some((r) => r.id === role.id)) assignedRoles.push(role)
  }
  for (const u of record.users.values()) {
    if (u.subject === input.subject) return qlikError(409, E.conflict, 'A user with this subject already exists')
  }
  const user = newUser({
    tenantId: record.tenant.id,
    host: ctx.host,
    subject: input.subject,
    name: input.name,
    email: input.email,
    status: input.status,
    assignedRoles,
    at: new Date(core.options.now()).toISOString()
  })
  record.users.set(user.id, user)
  return { status: 201, body: user }
}
