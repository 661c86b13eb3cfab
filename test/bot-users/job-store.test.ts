import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import type { Job, JobItem } from '../../src/bot-users/job.js'
import type { JobStore } from '../../src/bot-users/job-store.js'
import { createMemoryJobStore } from '../../src/bot-users/memory-job-store.js'
import { createPacer } from '../../src/bot-users/pacer.js'
import { createRedisJobStore } from '../../src/bot-users/redis-job-store.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

// The job store's guarantees the migration relies on (issue 11 §4), the same
// for Redis and for process memory: one lock per tenant, one lease holder,
// writes fenced by the lease, recorded items keep their state.

const job = (id: string, host: string): Job => ({
  id,
  region: 'eu',
  caller: 'migrator',
  deleteKinds: [],
  status: 'running',
  createdAt: new Date(0).toISOString(),
  updatedAt: new Date(0).toISOString(),
  tenants: [{ ref: host, host, names: [host], createdByCaller: false, phase: 'pending', inactiveBotUsers: [] }]
})
const item = (id: string, state: JobItem['state']): JobItem => ({ tenant: 0, kind: 'app', id, name: id, from: 'old', to: 'new', action: 'move', call: { method: 'PUT', path: `/api/v1/apps/${id}/owner`, body: { ownerId: 'new' } }, state })

await describe('bot-user job store', async () => {
  let redis: RedisServer
  let client: Redis
  before(async () => {
    redis = await startRedisServer()
    client = new Redis(redis.url)
  })
  after(async () => {
    client.disconnect()
    await redis.close()
  })

  const stores: Array<[string, () => { store: JobStore, expire: () => Promise<void> }]> = [
    ['memory', () => {
      let clock = 0
      return { store: createMemoryJobStore(() => clock), expire: async () => { clock += 10_000 } }
    }],
    ['redis', () => {
      const prefix = `qb-job-store-${Math.random()}:`
      return { store: createRedisJobStore({ redis: client, keyPrefix: prefix }), expire: async () => { for (const key of await client.keys(`${prefix}{bot-users}:lease:*`)) await client.del(key) } }
    }]
  ]

  for (const [kind, make] of stores) {
    await it(`${kind}: locks a tenant for one job, fences writes by the lease, and keeps an item's recorded state`, async () => {
      const { store, expire } = make()
      assert.deepEqual(await store.create(job('job-1', 'a.eu.qlikcloud.com'), ['eu:a.eu.qlikcloud.com']), { created: true })
      assert.deepEqual(await store.create(job('job-2', 'a.eu.qlikcloud.com'), ['eu:b.eu.qlikcloud.com', 'eu:a.eu.qlikcloud.com']), { created: false, heldBy: 'job-1' })
      assert.equal(await store.get('job-2'), undefined, 'a refused job stores nothing')
      assert.deepEqual(await store.create(job('job-3', 'b.eu.qlikcloud.com'), ['eu:b.eu.qlikcloud.com']), { created: true }, 'the refused job took no lock')

      assert.equal(await store.addItems('job-1', 'replica-a', [item('x', 'pending')]), false, 'no lease, no write')
      assert.equal(await store.lease('job-1', 'replica-a', 5_000), true)
      assert.equal(await store.lease('job-1', 'replica-b', 5_000), false, 'one holder at a time')
      assert.equal(await store.addItems('job-1', 'replica-a', [item('x', 'pending'), item('y', 'pending')]), true)
      assert.equal(await store.putItem('job-1', 'replica-a', item('x', 'moving')), true)
      // Discovery run again after a crash: a recorded item keeps its state.
      assert.equal(await store.addItems('job-1', 'replica-a', [item('x', 'pending')]), true)
      assert.deepEqual((await store.items('job-1')).map((entry) => [entry.id, entry.state]).sort(), [['x', 'moving'], ['y', 'pending']])

      // The holder dies; another replica takes over, and the old one can no longer write.
      await expire()
      assert.equal(await store.lease('job-1', 'replica-b', 5_000), true)
      assert.equal(await store.putItem('job-1', 'replica-a', item('x', 'moved')), false)
      assert.equal(await store.putJob({ ...job('job-1', 'a.eu.qlikcloud.com'), status: 'finished' }, 'replica-a'), false)
      assert.equal((await store.items('job-1')).find((entry) => entry.id === 'x')?.state, 'moving')
      assert.deepEqual((await store.running()).sort(), ['job-1', 'job-3'])

      await store.requestCancel('job-1')
      assert.equal(await store.cancelRequested('job-1'), true)
      await store.finish({ ...job('job-1', 'a.eu.qlikcloud.com'), status: 'cancelled' }, 'replica-b', ['eu:a.eu.qlikcloud.com'])
      assert.equal((await store.get('job-1'))?.status, 'cancelled')
      assert.deepEqual(await store.running(), ['job-3'])
      assert.deepEqual(await store.create(job('job-4', 'a.eu.qlikcloud.com'), ['eu:a.eu.qlikcloud.com']), { created: true }, 'a finished job frees its tenants')
      assert.deepEqual((await store.list(10)).map((entry) => entry.id).slice(0, 1), ['job-4'])
    })
  }

  await it('redis: says when it can be asked; a client still connecting refuses commands until then (no offline queue)', async () => {
    // As the broker's client: connecting from creation, without an offline queue.
    const connecting = new Redis(redis.url, { enableOfflineQueue: false })
    try {
      const store = createRedisJobStore({ redis: connecting, keyPrefix: `qb-job-store-${Math.random()}:` })
      // In the same turn as the client's creation: what the start-up look for orphaned jobs met before.
      assert.equal(connecting.status, 'connecting')
      await assert.rejects(store.running(), /enableOfflineQueue/)
      await store.reachable?.()
      assert.equal(connecting.status, 'ready')
      assert.deepEqual(await store.running(), [])
      // And at once when it already is.
      await store.reachable?.()
    } finally {
      connecting.disconnect()
    }
  })

  await it('paces a job to its share of a host\'s Tier 2 limit, per host', async () => {
    let clock = 0
    const slept: number[] = []
    const pacer = createPacer({ requests: 100, windowMs: 60_000, fraction: 0.5, now: () => clock, sleep: async (ms) => { slept.push(ms); clock += ms } })
    assert.equal(pacer.intervalMs, 1200)
    for (let n = 0; n < 4; n++) await pacer.wait('a.eu.qlikcloud.com')
    await pacer.wait('b.eu.qlikcloud.com')
    assert.deepEqual(slept, [1200, 1200, 1200])
    assert.equal(clock, 3600, 'three intervals for four moves on one host; another host waits for nobody')
  })
})
