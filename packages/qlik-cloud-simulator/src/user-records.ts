import { objectId } from './ids.js'
import { roleNamed } from './roles.js'
import type { AssignedRole } from './roles.js'
import type { User, UserStatus } from './types.js'

export interface NewUser {
  tenantId: string
  /** A hostname of the tenant, for `links.self`. */
  host: string
  subject: string
  name?: string | undefined
  email?: string | undefined
  clientId?: string | undefined
  status?: UserStatus | undefined
  assignedRoles?: AssignedRole[] | undefined
  /** ISO timestamp of creation. */
  at: string
}

/** A user object with today's fields (docs/reference/qlik-cloud-api.md §11). */
export function newUser (input: NewUser): User {
  const id = objectId()
  const user: User = {
    id,
    tenantId: input.tenantId,
    subject: input.subject,
    status: input.status ?? 'active',
    assignedRoles: input.assignedRoles ?? [],
    createdAt: input.at,
    lastUpdatedAt: input.at,
    links: { self: { href: `https://${input.host}/api/v1/users/${id}` } }
  }
  if (input.clientId !== undefined) user.clientId = input.clientId
  if (input.name !== undefined) user.name = input.name
  if (input.email !== undefined) user.email = input.email
  return user
}

/** The bot user of an OAuth client on a tenant (docs/reference/qlik-cloud-api.md §2.6). */
export function newBotUser (input: { tenantId: string, host: string, clientId: string, name: string, at: string }): User {
  return newUser({
    ...input,
    subject: `qlikbot\\${input.clientId}`,
    assignedRoles: [roleNamed('TenantAdmin')]
  })
}
