import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import type { QlikSimulator, TenantContentState } from '@qlik-broker/qlik-cloud-simulator'
import type { RedisServer } from '../support/redis-server.js'
import { startStack, type Stack } from '../support/stack.js'

/** Tenant hostnames the tests seed (fixed, so that grants can name them before the simulator has them). */
export const TENANT_HOSTS = ['bu-alpha.eu.qlikcloud.com', 'bu-beta.eu.qlikcloud.com', 'bu-gamma.eu.qlikcloud.com'] as const
export const OLD_CLIENT_ID = 'old-eu-client-0001'

/** Callers of these tests: reuse the stack's generated keys under bot-user grants. */
export function botUserCallers (hashes: Record<string, string>): unknown {
  return [
    { name: 'migrator', apiKeyHashes: [hashes.admin], grants: [{ regions: ['eu'], tenants: '*', actions: ['bot-users:read', 'bot-users:migrate'] }] },
    // May migrate on the first tenant only; reads jobs everywhere.
    { name: 'partial', apiKeyHashes: [hashes.reader], grants: [{ regions: ['eu'], tenants: [TENANT_HOSTS[0]], actions: ['bot-users:migrate'] }, { regions: ['eu'], tenants: '*', actions: ['bot-users:read'] }] },
    { name: 'onlooker', apiKeyHashes: [hashes.creator], grants: [{ regions: ['eu'], tenants: '*', actions: ['bot-users:read'] }] },
    { name: 'nobody', apiKeyHashes: [hashes.nobody], grants: [] }
  ]
}

export interface SeededTenant {
  id: string
  host: string
  oldBotId: string
  humanId: string
}

/** Generous limits on both sides: these tests are about correctness, the bench about the budget. */
export const FAST_ENV = { CALLER_QUOTA: '1000000/60s', QLIK_TIER1_LIMIT: '600000/60s', QLIK_TIER2_LIMIT: '60000/60s', BOT_USERS_LEASE_SECONDS: '1' }
export const FAST_SIMULATOR = { rateLimits: { tier1PerWindow: 1e6, tier2PerWindow: 1e6 } }

export async function startBotUserStack (t: TestContext, redis?: RedisServer): Promise<Stack> {
  return await startStack(t, { ...(redis === undefined ? {} : { redis }), env: FAST_ENV, simulator: FAST_SIMULATOR, callers: botUserCallers })
}

/**
 * On each tenant: the old client's bot user (`qlikbot\{OLD_CLIENT_ID}`, as a
 * deleted-and-recreated client leaves it, docs/reference/qlik-cloud-api.md §7)
 * owning `perKind` items of each kind, and a human user owning content that
 * no migration may touch.
 */
export function seedTenants (sim: QlikSimulator, perKind: number, hosts: readonly string[] = TENANT_HOSTS): SeededTenant[] {
  return hosts.map((host) => {
    const tenant = sim.addTenant({ region: 'eu', hostnames: [host] })
    const oldBot = sim.addUser(tenant.id, { clientId: OLD_CLIENT_ID, name: 'Old EU client' })
    const human = sim.addUser(tenant.id, { subject: `idp|ada-${tenant.id}`, name: 'Ada' })
    sim.seedContent(tenant.id, { ownerId: oldBot.id, apps: perKind, appObjectsPerApp: 2, spaces: perKind, dataFiles: perKind, automations: perKind, automationConnections: perKind })
    sim.seedContent(tenant.id, { ownerId: human.id, apps: 1, spaces: 1, dataFiles: 1 })
    return { id: tenant.id, host, oldBotId: oldBot.id, humanId: human.id }
  })
}

/** A JSON answer as the tests read it. */
export type Answer = { status: number, body: any } // eslint-disable-line @typescript-eslint/no-explicit-any

const MOVABLE: Array<keyof TenantContentState> = ['apps', 'spaces', 'dataFiles', 'automations', 'automationConnections']

/** Every movable item of a tenant with its owner and owner-change count. */
export function movable (sim: QlikSimulator, tenantId: string): Array<{ kind: string, id: string, ownerId: string, ownerChanges: number }> {
  const state = sim.content(tenantId)
  return MOVABLE.flatMap((kind) => (state[kind] as Array<{ id: string, ownerId: string, ownerChanges: number }>).map((item) => ({ kind, id: item.id, ownerId: item.ownerId, ownerChanges: item.ownerChanges })))
}

export async function api (stack: Stack, key: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
}

/** Polls the job until it is no longer running (real time: the job runs on real HTTP). */
export async function waitForJob (read: () => Promise<Answer>, timeoutMs = 30_000): Promise<Answer['body']> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const job = await read()
    assert.equal(job.status, 200, JSON.stringify(job.body))
    if (job.body.status !== 'running') return job.body
    if (Date.now() > deadline) throw new Error(`job still running: ${JSON.stringify(job.body.totals)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
