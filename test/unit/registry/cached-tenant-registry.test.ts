import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createCachedTenantRegistry, type RegistryChangeFeed } from '../../../src/registry/cached-tenant-registry.js'
import { createMemoryTenantRegistry } from '../../../src/registry/memory-tenant-registry.js'
import type { RegisteredTenant, TenantRegistry } from '../../../src/registry/tenant-registry.js'

function tenant (id: string, extra: Partial<RegisteredTenant> = {}): RegisteredTenant {
  return { id, name: id.toLowerCase(), hostnames: [`${id.toLowerCase()}.eu.qlikcloud.com`], region: 'eu', status: 'active', createdBy: 'svc', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', ...extra }
}

/** A feed the test drives: `announce()` is another replica's write, `setLive` the subscription coming and going. */
function fakeFeed (): RegistryChangeFeed & { announce: () => void, setLive: (value: boolean) => void } {
  const listeners: Array<() => void> = []
  let live = true
  return {
    live: () => live,
    onChange (listener) { listeners.push(listener) },
    async close () {},
    announce () { for (const listener of listeners) listener() },
    setLive (value) {
      live = value
      for (const listener of listeners) listener()
    }
  }
}

/** The registry behind the cache, counting its reads; `hold()` holds the next read's answer back until released. */
function countingRegistry (): TenantRegistry & { reads: number, hold: () => () => void, direct: TenantRegistry } {
  const direct = createMemoryTenantRegistry()
  let held: Promise<void> | undefined
  const counted = {
    ...direct,
    reads: 0,
    direct,
    hold () {
      let release = (): void => {}
      held = new Promise((resolve) => { release = resolve })
      return release
    },
    async get (region: string, id: string) {
      counted.reads++
      const waiting = held
      held = undefined
      // Read now, answer when released: the answer is on its way back while other things happen.
      const answer = await direct.get(region, id)
      await waiting
      return answer
    },
    async findByHostname (region: string, hostname: string) {
      counted.reads++
      return await direct.findByHostname(region, hostname)
    }
  }
  return counted
}

function setUp (options: { ttlMs?: number, maxEntries?: number } = {}): { inner: ReturnType<typeof countingRegistry>, feed: ReturnType<typeof fakeFeed>, cached: TenantRegistry, clock: { now: number } } {
  const inner = countingRegistry()
  const feed = fakeFeed()
  const clock = { now: 1_000_000 }
  const cached = createCachedTenantRegistry(inner, { feed, ttlMs: options.ttlMs ?? 5000, maxEntries: options.maxEntries ?? 100, now: () => clock.now })
  return { inner, feed, cached, clock }
}

await describe('cached tenant registry', async () => {
  await it('answers a repeated lookup, by id or by hostname, from memory, with a copy the caller may change', async () => {
    const { inner, cached } = setUp()
    await inner.direct.record(tenant('T1'))
    const first = await cached.get('eu', 'T1')
    first?.hostnames.push('changed.eu.qlikcloud.com')
    assert.deepEqual(await cached.get('eu', 'T1'), tenant('T1'))
    assert.equal((await cached.findByHostname('eu', 't1.eu.qlikcloud.com'))?.id, 'T1')
    assert.equal((await cached.findByHostname('eu', 't1.eu.qlikcloud.com'))?.id, 'T1')
    assert.equal(inner.reads, 2, 'one read per lookup key')
  })

  await it('drops every answer, "not registered" ones included, when another replica announces a write', async () => {
    const { inner, feed, cached } = setUp()
    assert.equal(await cached.get('eu', 'T1'), undefined)
    await inner.direct.record(tenant('T1'))
    assert.equal(await cached.get('eu', 'T1'), undefined, 'unannounced: the kept answer stands')
    feed.announce()
    assert.equal((await cached.get('eu', 'T1'))?.id, 'T1')
    await inner.direct.update('eu', 'T1', { status: 'disabled' }, '2026-01-02T00:00:00.000Z')
    feed.announce()
    assert.equal((await cached.get('eu', 'T1'))?.status, 'disabled')
  })

  await it('drops every answer on its own writes, also when the write fails', async () => {
    const { inner, cached } = setUp()
    await inner.direct.record(tenant('T1'))
    assert.equal((await cached.get('eu', 'T1'))?.status, 'active')
    await cached.update('eu', 'T1', { status: 'disabled' }, '2026-01-02T00:00:00.000Z')
    assert.equal((await cached.get('eu', 'T1'))?.status, 'disabled')
    const failing = createCachedTenantRegistry({ ...inner, async record () { throw new Error('Redis is down') } }, { feed: fakeFeed(), ttlMs: 5000, maxEntries: 100 })
    assert.equal(await failing.get('eu', 'T2'), undefined)
    await inner.direct.record(tenant('T2'))
    await assert.rejects(failing.record(tenant('T2')), /Redis is down/)
    assert.equal((await failing.get('eu', 'T2'))?.id, 'T2')
  })

  await it('keeps and answers nothing while the feed is not live, and starts again once it is', async () => {
    const { inner, feed, cached } = setUp()
    feed.setLive(false)
    await cached.get('eu', 'T1')
    await cached.get('eu', 'T1')
    assert.equal(inner.reads, 2)
    feed.setLive(true)
    await cached.get('eu', 'T1')
    await cached.get('eu', 'T1')
    assert.equal(inner.reads, 3)
    feed.setLive(false)
    await cached.get('eu', 'T1')
    assert.equal(inner.reads, 4, 'what was kept is not answered once the feed is down')
  })

  await it('does not keep an answer read while a write was announced (it may predate the write)', async () => {
    const { inner, feed, cached } = setUp()
    const release = inner.hold()
    const reading = cached.get('eu', 'T1')
    await inner.direct.record(tenant('T1'))
    feed.announce()
    release()
    assert.equal(await reading, undefined, 'the read began before the write')
    assert.equal((await cached.get('eu', 'T1'))?.id, 'T1', 'and was not kept')
    assert.equal(inner.reads, 2)
  })

  await it('reads again once an answer is older than the TTL, announced or not', async () => {
    const { inner, cached, clock } = setUp({ ttlMs: 5000 })
    await inner.direct.record(tenant('T1'))
    await cached.get('eu', 'T1')
    clock.now += 4999
    await cached.get('eu', 'T1')
    assert.equal(inner.reads, 1)
    await inner.direct.update('eu', 'T1', { status: 'disabled' }, '2026-01-02T00:00:00.000Z')
    clock.now += 1
    assert.equal((await cached.get('eu', 'T1'))?.status, 'disabled')
    assert.equal(inner.reads, 2)
  })

  await it('keeps at most maxEntries answers, dropping the oldest', async () => {
    const { inner, cached } = setUp({ maxEntries: 2 })
    for (const id of ['A', 'B', 'C']) await cached.get('eu', id)
    await cached.get('eu', 'C')
    await cached.get('eu', 'B')
    assert.equal(inner.reads, 3)
    await cached.get('eu', 'A')
    assert.equal(inner.reads, 4, 'A was dropped')
  })
})
