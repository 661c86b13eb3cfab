import { createHash } from 'node:crypto'

/** An entry of a user's `assignedRoles` (docs/reference/qlik-cloud-api.md §11). */
export interface AssignedRole {
  id: string
  name: string
  type: 'default' | 'custom'
  level: 'admin' | 'user'
}

// Qlik's default role names. Ids are stable per name so that a test can
// assign a role by id it read earlier; Qlik's real ids differ per tenant.
const DEFAULT_ROLES = [
  'TenantAdmin', 'AnalyticsAdmin', 'DataAdmin', 'AuditAdmin', 'Developer',
  'SharedSpaceCreator', 'ManagedSpaceCreator', 'DataSpaceCreator',
  'PrivateAnalyticsContentCreator', 'DataServicesContributor', 'AutomationCreator'
] as const

const ROLES: readonly AssignedRole[] = DEFAULT_ROLES.map((name) => ({
  id: createHash('sha256').update(`role:${name}`).digest('hex').slice(0, 24),
  name,
  type: 'default',
  level: name.endsWith('Admin') ? 'admin' : 'user'
}))

/** The default role with that name or id, or undefined. */
export function findRole (ref: { id?: string | undefined, name?: string | undefined }): AssignedRole | undefined {
  const role = ROLES.find((r) => r.id === ref.id || r.name === ref.name)
  return role === undefined ? undefined : { ...role }
}

export function roleNamed (name: (typeof DEFAULT_ROLES)[number]): AssignedRole {
  return findRole({ name }) as AssignedRole
}
