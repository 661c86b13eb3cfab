import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { objectId } from './ids.js'
import { ownerChangesOf } from './content-store.js'
import { iso } from './owned-content.js'
import { roleNamed } from './roles.js'
import { newUser } from './user-records.js'
import { CONTENT_KINDS } from './content-types.js'
import type { SimulatorCore } from './core.js'
import type { TenantContent } from './content-store.js'
import type { ContentKind, OwnedItemState, SeedContentInput, SeededContent, SeedUserInput, TenantContentState } from './content-types.js'
import type { TenantRecord } from './tenant-store.js'
import type { User } from './types.js'

// Seeding and reading back owned content, for the control API and the
// in-process accessors. Errors are RangeErrors the callers turn into 400/404.

export class UnknownTenantError extends RangeError {}

const count = z.int().min(0).max(1000).optional()

const seedContentSchema = z.strictObject({
  ownerId: z.string().min(1),
  apps: count,
  appObjectsPerApp: z.int().min(0).max(50).optional(),
  spaces: count,
  dataFiles: count,
  automations: count,
  automationConnections: count
})

const seedUserSchema = z.strictObject({
  subject: z.string().trim().min(1).optional(),
  name: z.string().trim().min(1).optional(),
  clientId: z.string().min(1).optional(),
  status: z.enum(['active', 'invited', 'disabled']).optional()
}).refine((u) => u.subject !== undefined || u.clientId !== undefined, 'give a subject or a clientId')

/** Validates untrusted input (the control API's, or a test's) into T, or throws a RangeError naming every problem. */
function valid<T> (schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input)
  if (!parsed.success) throw new RangeError(z.prettifyError(parsed.error))
  return parsed.data
}

function recordOf (core: SimulatorCore, tenantId: string): TenantRecord {
  const record = core.tenants.get(tenantId)
  if (record === undefined) throw new UnknownTenantError(`no tenant with id ${tenantId}`)
  return record
}

export function seedUser (core: SimulatorCore, tenantId: string, raw: SeedUserInput): User {
  const record = recordOf(core, tenantId)
  const input = valid(seedUserSchema, raw)
  const subject = input.subject ?? (input.clientId === undefined ? undefined : `qlikbot\\${input.clientId}`)
  if (subject === undefined) throw new RangeError('give a subject or a clientId')
  for (const u of record.users.values()) if (u.subject === subject) throw new RangeError(`a user with subject ${subject} exists`)
  if (input.clientId !== undefined && record.bots.has(input.clientId)) throw new RangeError(`client ${input.clientId} already has a bot user on this tenant`)
  const user = newUser({
    tenantId,
    host: record.tenant.hostnames[0] as string,
    subject,
    name: input.name,
    clientId: input.clientId,
    status: input.status,
    assignedRoles: input.clientId === undefined ? [] : [roleNamed('TenantAdmin')],
    at: iso(core.options.now())
  })
  record.users.set(user.id, user)
  if (input.clientId !== undefined) record.bots.set(input.clientId, user)
  return structuredClone(user)
}

/** Creates the requested content, all owned by `input.ownerId`, a user of the tenant. */
export function seedContent (core: SimulatorCore, tenantId: string, raw: SeedContentInput): SeededContent {
  const record = recordOf(core, tenantId)
  const input = valid(seedContentSchema, raw)
  const { ownerId } = input
  if (!record.users.has(ownerId)) throw new RangeError(`ownerId: no user with id ${ownerId} on this tenant`)
  const at = iso(core.options.now())
  const { content } = record
  const seeded: SeededContent = { apps: [], appObjects: [], spaces: [], dataFiles: [], automations: [], automationConnections: [] }
  const host = record.tenant.hostnames[0] as string

  for (let i = 0; i < (input.spaces ?? 0); i++) {
    const id = objectId()
    const href = `https://${host}/api/v1/spaces/${id}`
    record.spaces.set(id, {
      id,
      tenantId,
      name: `Seeded space ${id}`,
      type: 'shared',
      description: '',
      ownerId,
      createdAt: at,
      createdBy: ownerId,
      updatedAt: at,
      links: { self: { href }, assignments: { href: `${href}/assignments` } }
    })
    seeded.spaces.push(id)
  }
  for (let i = 0; i < (input.apps ?? 0); i++) {
    const id = randomUUID()
    content.apps.set(id, { id, name: `Seeded app ${i + 1}`, ownerId, spaceId: '', itemId: objectId(), createdDate: at, modifiedDate: at })
    seeded.apps.push(id)
    for (let j = 0; j < (input.appObjectsPerApp ?? 0); j++) {
      const objectIdValue = randomUUID().slice(0, 8)
      content.appObjects.set(objectIdValue, {
        id: objectIdValue, appId: id, name: `Sheet ${j + 1}`, objectType: 'sheet', ownerId, published: false, createdAt: at, updatedAt: at
      })
      seeded.appObjects.push(objectIdValue)
    }
  }
  for (let i = 0; i < (input.dataFiles ?? 0); i++) {
    const id = randomUUID()
    content.dataFiles.set(id, { id, name: `seeded-${id}.csv`, ownerId, spaceId: '', size: 1024, createdDate: at, modifiedDate: at })
    seeded.dataFiles.push(id)
  }
  for (let i = 0; i < (input.automationConnections ?? 0); i++) {
    const id = randomUUID()
    content.automationConnections.set(id, { id, name: `Seeded connection ${i + 1}`, ownerId, connectorId: randomUUID(), createdAt: at, updatedAt: at })
    seeded.automationConnections.push(id)
  }
  const connections = seeded.automationConnections
  for (let i = 0; i < (input.automations ?? 0); i++) {
    const id = randomUUID()
    const connection = connections[i % Math.max(1, connections.length)]
    content.automations.set(id, {
      id, name: `Seeded automation ${i + 1}`, ownerId, state: 'available', connectionIds: connection === undefined ? [] : [connection], createdAt: at, updatedAt: at
    })
    seeded.automations.push(id)
  }
  return seeded
}

function stateOf (content: TenantContent, kind: ContentKind, item: { id: string, name: string, ownerId: string }): OwnedItemState {
  return { id: item.id, name: item.name, ownerId: item.ownerId, ownerChanges: ownerChangesOf(content, kind, item.id) }
}

/** Every owned item of the tenant, with its owner and its count of owner changes. */
export function contentState (core: SimulatorCore, tenantId: string): TenantContentState {
  const record = recordOf(core, tenantId)
  const { content } = record
  const state = Object.fromEntries(CONTENT_KINDS.map((k) => [k, []])) as unknown as TenantContentState
  state.apps = [...content.apps.values()].map((a) => stateOf(content, 'apps', a))
  state.appObjects = [...content.appObjects.values()].map((o) => ({ ...stateOf(content, 'appObjects', o), appId: o.appId }))
  state.spaces = [...record.spaces.values()].map((s) => stateOf(content, 'spaces', s))
  state.dataFiles = [...content.dataFiles.values()].map((f) => stateOf(content, 'dataFiles', f))
  state.automations = [...content.automations.values()].map((a) => ({ ...stateOf(content, 'automations', a), connectionIds: [...a.connectionIds] }))
  state.automationConnections = [...content.automationConnections.values()].map((c) => stateOf(content, 'automationConnections', c))
  return state
}
