import { z } from 'zod'
import { E, qlikError } from './envelope.js'
import { validJsonBody } from './json-body.js'
import type { CursorParams, PageRequest } from './cursor-paging.js'
import type { SimResponse } from './http-utils.js'
import type { RouteContext } from './route.js'
import type { TenantRecord } from './tenant-store.js'

// Helpers shared by the APIs of owned content (docs/reference/qlik-cloud-api.md §7).

export const iso = (ms: number): string => new Date(ms).toISOString()

/** Qlik's 404 for an id the tenant does not have. */
export function missing (what: string, id: string): SimResponse {
  return qlikError(404, E.notFound, `No ${what} with id ${id}`)
}

/** The paging request of a listing on this request's host and path. */
export function pageRequest (ctx: RouteContext, params: CursorParams, defaultLimit: number): PageRequest {
  return { query: ctx.query, base: `https://${ctx.host}${ctx.path}`, params, defaultLimit, maxLimit: 100 }
}

const userIdString = z.string().trim().min(1)
const byOwnerId = z.object({ ownerId: userIdString })
const byUserId = z.object({ userId: userIdString })

/**
 * The new owner named by a change-owner body (`ownerId` or `userId`, per API).
 * It must be a user of this tenant: moving content to nobody is refused.
 */
export function newOwnerOf (record: TenantRecord, body: Buffer, field: 'ownerId' | 'userId'): { ok: true, ownerId: string } | { ok: false, response: SimResponse } {
  const schema: z.ZodType<{ ownerId: string } | { userId: string }> = field === 'ownerId' ? byOwnerId : byUserId
  const parsed = validJsonBody(body, schema, 'change-owner request')
  if (!parsed.ok) return parsed
  const ownerId = 'ownerId' in parsed.data ? parsed.data.ownerId : parsed.data.userId
  if (!record.users.has(ownerId)) return { ok: false, response: qlikError(400, E.badRequest, `${field}: no user with id ${ownerId} on this tenant`) }
  return { ok: true, ownerId }
}

/** `ownerId=` of a listing, when given. */
export function ownerIdParam (ctx: RouteContext): string | undefined {
  return new URLSearchParams(ctx.query).get('ownerId') ?? undefined
}
