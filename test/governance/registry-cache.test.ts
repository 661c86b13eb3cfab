import assert from 'node:assert/strict'
import { after, before, describe, it, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import { createCachedTenantRegistry, type RegistryChangeFeed } from '../../src/registry/cached-tenant-registry.js'
import { subscribeRegistryChanges } from '../../src/registry/redis-registry-changes.js'
import { createRedisTenantRegistry } from '../../src/registry/redis-tenant-registry.js'
import type { RegisteredTenant, TenantRegistry } from '../../src/registry/tenant-registry.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { waitFor } from '../support/wait.js'

function tenant (id: string, extra: Partial<RegisteredTenant> = {}): RegisteredTenant {
  return { id, name: id.toLowerCase(), hostnames: [`${id.toLowerCase()}.eu.qlikcloud.com`], region: 'eu', status: 'active', createdBy: 'svc', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', ...extra }
}

interface Replica { registry: TenantRegistry, feed: RegistryChangeFeed }

await describe('registry cache across replicas (real Redis, pub/sub)', async () => {
  let redis: RedisServer
  let raw: Redis
  before(async () => {
    redis = await startRedisServer()
    raw = redis.client()
  })
  after(async () => { await redis.close() })
  let prefixes = 0

  /** Two replicas' registries, each on its own connections, sharing one key prefix; both subscribed. */
  async function replicas (t: TestContext): Promise<{ a: Replica, b: Replica, prefix: string }> {
    const prefix = `qb-cache-${++prefixes}:`
    const make = (): Replica => {
      const client = new Redis(redis.url)
      const feed = subscribeRegistryChanges({ redis: client, keyPrefix: prefix })
      const registry = createCachedTenantRegistry(createRedisTenantRegistry({ redis: client, keyPrefix: prefix }), { feed, ttlMs: 60_000, maxEntries: 100 })
      t.after(async () => {
        await registry.close()
        client.disconnect()
      })
      return { registry, feed }
    }
    const a = make()
    const b = make()
    await waitFor('both subscribed', () => a.feed.live() && b.feed.live())
    return { a, b, prefix }
  }

  await it('answers from memory until any replica writes, then reads the write: a created tenant, a status change, a new alias', async (t) => {
    const { a, b, prefix } = await replicas(t)
    assert.equal(await a.registry.get('eu', 'T1'), undefined)
    assert.equal(await a.registry.findByHostname('eu', 'alias.eu.qlikcloud.com'), undefined)

    await b.registry.record(tenant('T1'))
    await waitFor('A sees the tenant B created', async () => (await a.registry.get('eu', 'T1'))?.id === 'T1')

    // A write that announces nothing (a replica of an older version) is not seen: the answer comes from memory.
    await raw.hset(`${prefix}registry:{eu}:tenant:T1`, 'status', 'unannounced')
    assert.equal((await a.registry.get('eu', 'T1'))?.status, 'active')

    await b.registry.update('eu', 'T1', { status: 'disabled', alias: 'alias.eu.qlikcloud.com' }, '2026-01-02T00:00:00.000Z')
    await waitFor('A sees B\'s update', async () => (await a.registry.get('eu', 'T1'))?.status === 'disabled')
    assert.equal((await a.registry.findByHostname('eu', 'alias.eu.qlikcloud.com'))?.id, 'T1', 'the "no such hostname" answer was dropped too')
  })

  await it('reads Redis on every lookup while its subscription is down, and answers from memory again once Redis confirms it', async (t) => {
    const { a, prefix } = await replicas(t)
    await a.registry.record(tenant('T1'))
    assert.equal((await a.registry.get('eu', 'T1'))?.status, 'active')

    const killed = await raw.client('KILL', 'TYPE', 'pubsub') as number
    assert.ok(killed >= 1)
    await waitFor('A notices its subscription is gone', () => !a.feed.live())
    await raw.hset(`${prefix}registry:{eu}:tenant:T1`, 'status', 'changed-while-down')
    assert.equal((await a.registry.get('eu', 'T1'))?.status, 'changed-while-down', 'not answered from memory')

    await waitFor('A subscribed again', () => a.feed.live())
    assert.equal((await a.registry.get('eu', 'T1'))?.status, 'changed-while-down')
    await raw.hset(`${prefix}registry:{eu}:tenant:T1`, 'status', 'unannounced')
    assert.equal((await a.registry.get('eu', 'T1'))?.status, 'changed-while-down', 'from memory again')
  })
})
