// test/run.ts: second lane (a migration paced in real time across a replica crash: mostly waiting)
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import { createApiKey } from '../../src/auth/api-keys.js'
import type { Job, JobItem } from '../../src/bot-users/job.js'
import { CONTENT_CALLS } from '../../src/bot-users/owned-content.js'
import { createRedisJobStore } from '../../src/bot-users/redis-job-store.js'
import { createQlikSimulator, type QlikSimulator } from '@qlik-broker/qlik-cloud-simulator'
import { createCipherKeySpec } from '../../src/tokens/token-cipher.js'
import { startBrokerProcess, waitUntilReady, type BrokerProcess } from '../support/broker-process.js'
import { CLUSTER_CLIENTS } from '../support/cluster.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { waitFor } from '../support/wait.js'
import { call, mint } from '../simulator/helpers.js'
import { TENANT_HOSTS, movable, seedTenants, waitForJob, type Answer } from './support.js'

// Issue 11 §4: the job's state lives in Redis; a replica killed mid-job
// (SIGKILL) leaves it to another, which resumes where it stopped and never
// moves an item twice (the simulator counts change-owner calls per item).

interface Replicas {
  sim: QlikSimulator
  key: string
  prefix: string
  start (): Promise<BrokerProcess>
}

async function replicas (t: TestContext, redis: RedisServer, tier2: string): Promise<Replicas> {
  const [eu] = CLUSTER_CLIENTS
  assert.ok(eu !== undefined)
  const sim = await createQlikSimulator({ clients: [eu], rateLimits: { tier1PerWindow: 1e6, tier2PerWindow: 1e6 } })
  const workDir = mkdtempSync(join(tmpdir(), 'qlik-broker-bot-users-'))
  writeFileSync(join(workDir, 'eu.json'), JSON.stringify({ client_id: eu.clientId, client_secret: eu.clientSecret }))
  const { key, hash } = createApiKey()
  const prefix = `qb-bot-users-${Date.now()}:`
  const env = {
    SECRETS_SOURCE: 'file',
    SECRETS_DIR: workDir,
    QLIK_REGIONS: 'eu',
    QLIK_UPSTREAM_ORIGIN: sim.url,
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    CACHE_ENCRYPTION_KEYS: createCipherKeySpec('bot-users'),
    QLIK_TIER1_LIMIT: '1000000/60s',
    QLIK_TIER2_LIMIT: tier2,
    CALLER_QUOTA: '1000000/60s',
    BOT_USERS_LEASE_SECONDS: '1'
  }
  const callers = [{ name: 'migrator', apiKeyHashes: [hash], grants: [{ regions: ['eu'], tenants: '*', actions: ['bot-users:read', 'bot-users:migrate'] }] }]
  const started: BrokerProcess[] = []
  t.after(async () => {
    await Promise.all(started.map(async (broker) => await broker.kill('SIGKILL')))
    await sim.close()
    rmSync(workDir, { recursive: true, force: true })
  })
  return {
    sim,
    key,
    prefix,
    async start () {
      const broker = await startBrokerProcess({ env, callers, workDir, name: `broker-${started.length}` })
      started.push(broker)
      await waitUntilReady(broker.url)
      return broker
    }
  }
}

async function api (url: string, key: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
}

await describe('bot-user migration survives a replica crash', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    await it(`finishes on another replica after the one running the job gets ${signal}, with no item moved twice`, async (t) => {
      // 1200/60s and half of it for the job: a move every 100 ms per tenant, about 1.5 s for the 15 items of each.
      const cluster = await replicas(t, redis, '1200/60s')
      const tenants = seedTenants(cluster.sim, 3)
      // Both replicas run from the start, as in a deployment: the second sweeps for orphaned jobs
      // (every lease) and takes this one over only once the first's lease has lapsed.
      const [first, second] = await Promise.all([cluster.start(), cluster.start()])
      assert.ok(first !== undefined && second !== undefined)
      // Each replica looked for orphaned jobs at start-up once Redis was connected, not before (which failed and warned).
      for (const replica of [first, second]) await waitFor('the start-up look for orphaned jobs', () => replica.output().includes('redis connected'))
      assert.equal([first, second].some((replica) => replica.output().includes('cannot look for bot-user jobs to resume')), false)
      const started = await api(first.url, cluster.key, 'POST', '/regions/eu/bot-users/jobs', { tenants: [...TENANT_HOSTS] })
      assert.equal(started.status, 202, JSON.stringify(started.body))
      const changes = (): number => tenants.reduce((sum, tenant) => sum + movable(cluster.sim, tenant.id).reduce((total, item) => total + item.ownerChanges, 0), 0)
      const deadline = Date.now() + 20_000
      while (changes() < 6) {
        assert.ok(Date.now() < deadline, 'the job made progress')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await first.kill(signal)
      const movedBeforeCrash = changes()
      assert.ok(movedBeforeCrash < 45, 'killed midway')

      const job = await waitForJob(() => api(second.url, cluster.key, 'GET', `/regions/eu/bot-users/jobs/${started.body.id as string}`))
      assert.equal(job.status, 'finished')
      assert.deepEqual(job.totals, { found: 45, moved: 45, failed: 0, remaining: 0 })
      for (const tenant of tenants) {
        for (const item of movable(cluster.sim, tenant.id)) {
          assert.notEqual(item.ownerId, tenant.oldBotId)
          if (item.ownerId !== tenant.humanId) assert.equal(item.ownerChanges, 1, `${item.kind} ${item.id} moved exactly once`)
        }
      }
    })
  }

  await it('re-reads an item found "moving" after a crash: one already moved is not moved again, one not moved is', async (t) => {
    const cluster = await replicas(t, redis, '60000/60s')
    const [tenant] = seedTenants(cluster.sim, 1, [TENANT_HOSTS[0]])
    assert.ok(tenant !== undefined)
    const token = await mint(cluster.sim, tenant.host, CLUSTER_CLIENTS[0]?.clientSecret, CLUSTER_CLIENTS[0]?.clientId)
    const newBot = String((await call(cluster.sim, '/api/v1/users/me', { host: tenant.host, token })).headers.location).split('/').at(-1) ?? ''
    const [app] = cluster.sim.content(tenant.id).apps.filter((entry) => entry.ownerId === tenant.oldBotId)
    const [space] = cluster.sim.content(tenant.id).spaces.filter((entry) => entry.ownerId === tenant.oldBotId)
    assert.ok(app !== undefined && space !== undefined)
    // The crashed replica had sent the app's move (Qlik did it) but died before recording it.
    const moved = await call(cluster.sim, `/api/v1/apps/${app.id}/owner`, { host: tenant.host, token, method: 'PUT', body: { ownerId: newBot } })
    assert.equal(moved.status, 200)

    const client = new Redis(redis.url)
    t.after(() => { client.disconnect() })
    const store = createRedisJobStore({ redis: client, keyPrefix: cluster.prefix })
    const at = new Date().toISOString()
    const job: Job = {
      id: '0b3c1f7e-6f4e-4a59-9a57-3c1e0d2f5a10',
      region: 'eu',
      caller: 'migrator',
      deleteKinds: [],
      status: 'running',
      tenants: [{ ref: tenant.host, host: tenant.host, names: [tenant.host], createdByCaller: false, phase: 'moving', activeBotUser: newBot, inactiveBotUsers: [tenant.oldBotId] }],
      createdAt: at,
      updatedAt: at
    }
    const item = (kind: 'app' | 'space', id: string): JobItem => ({ tenant: 0, kind, id, name: id, from: tenant.oldBotId, to: newBot, action: 'move', call: CONTENT_CALLS[kind].move(id, newBot), state: 'moving' })
    assert.deepEqual(await store.create(job, [`eu:${tenant.host}`]), { created: true })
    assert.equal(await store.lease(job.id, 'crashed-replica', 300), true)
    assert.equal(await store.addItems(job.id, 'crashed-replica', [item('app', app.id), item('space', space.id)]), true)

    const broker = await cluster.start()
    const done = await waitForJob(() => api(broker.url, cluster.key, 'GET', `/regions/eu/bot-users/jobs/${job.id}`))
    assert.equal(done.status, 'finished')
    assert.deepEqual(done.totals, { found: 2, moved: 2, failed: 0, remaining: 0 })
    const state = cluster.sim.content(tenant.id)
    assert.deepEqual(state.apps.filter((entry) => entry.id === app.id).map((entry) => [entry.ownerId, entry.ownerChanges]), [[newBot, 1]])
    assert.deepEqual(state.spaces.filter((entry) => entry.id === space.id).map((entry) => [entry.ownerId, entry.ownerChanges]), [[newBot, 1]])
  })
})
