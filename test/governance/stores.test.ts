import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import type { AuditLog, AuditRecord } from '../../src/audit/audit-log.js'
import { createMemoryAuditLog, MEMORY_AUDIT_CAPACITY } from '../../src/audit/memory-audit-log.js'
import { createRedisAuditLog } from '../../src/audit/redis-audit-log.js'
import type { IdempotencyStore, InProgressRecord, SettledRecord } from '../../src/idempotency/idempotency-store.js'
import { createMemoryIdempotencyStore } from '../../src/idempotency/memory-idempotency-store.js'
import { createRedisIdempotencyStore } from '../../src/idempotency/redis-idempotency-store.js'
import { createMemoryTenantRegistry } from '../../src/registry/memory-tenant-registry.js'
import { createCachedTenantRegistry } from '../../src/registry/cached-tenant-registry.js'
import { subscribeRegistryChanges } from '../../src/registry/redis-registry-changes.js'
import { createRedisTenantRegistry } from '../../src/registry/redis-tenant-registry.js'
import { positionOf, type RegisteredTenant, type TenantRegistry } from '../../src/registry/tenant-registry.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { sleep } from './support.js'

const inProgress = (owner: string, fingerprint = 'f1'): InProgressRecord => ({ state: 'in-progress', owner, fingerprint, requestId: `r-${owner}`, startedAt: new Date().toISOString() })
const completed = (fingerprint = 'f1'): SettledRecord => ({ state: 'completed', fingerprint, requestId: 'r-a', startedAt: '', completedAt: '', answer: { statusCode: 201, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"id":"T1"}').toString('base64') } })

function tenant (id: string, createdAt: string, extra: Partial<RegisteredTenant> = {}): RegisteredTenant {
  return { id, name: id.toLowerCase(), hostnames: [`${id.toLowerCase()}.eu.qlikcloud.com`], region: 'eu', status: 'active', createdBy: 'svc', createdAt, updatedAt: createdAt, ...extra }
}

const event = (n: number, extra: Partial<AuditRecord> = {}): AuditRecord => ({ time: new Date().toISOString(), requestId: `r-${n}`, caller: 'svc', region: 'eu', action: 'tenants:read', outcome: 'allowed', upstreamStatus: 200, durationMs: n, ...extra })

await describe('governance stores (each contract against Redis and memory)', async () => {
  let redis: RedisServer
  let client: Redis
  before(async () => {
    redis = await startRedisServer()
    client = redis.client()
  })
  after(async () => { await redis.close() })
  let prefixes = 0
  const prefix = (): string => `qb-store-${++prefixes}:`

  const idempotencyStores: Array<[string, () => IdempotencyStore]> = [
    ['redis', () => createRedisIdempotencyStore({ redis: client, keyPrefix: prefix() })],
    ['memory', () => createMemoryIdempotencyStore()]
  ]
  for (const [kind, make] of idempotencyStores) {
    await describe(`idempotency store (${kind})`, async () => {
      await it('lets exactly one of many concurrent claims take a key, and shows the others the holder alive', async () => {
        const store = make()
        const claims = await Promise.all(Array.from({ length: 50 }, async (_, n) => store.claim('svc:k', inProgress(`o${n}`), 60_000, 5_000)))
        assert.equal(claims.filter((claim) => claim.claimed).length, 1)
        for (const claim of claims) if (!claim.claimed) assert.equal(claim.alive, true)
      })

      await it('settles only for the holder, then returns the settled record to every claim', async () => {
        const store = make()
        assert.deepEqual(await store.claim('svc:k', inProgress('a'), 60_000, 5_000), { claimed: true })
        assert.equal(await store.settle('svc:k', 'b', completed(), 60_000), false, 'not the holder')
        assert.equal(await store.settle('svc:k', 'a', completed(), 60_000), true)
        const again = await store.claim('svc:k', inProgress('c'), 60_000, 5_000)
        assert.equal(again.claimed, false)
        assert.equal(again.claimed ? undefined : again.record.state, 'completed')
        assert.equal(await store.settle('svc:k', 'a', completed(), 60_000), false, 'a settled record is never settled again')
      })

      await it('forgets a released claim (the key can be taken again) but never a settled one', async () => {
        const store = make()
        await store.claim('svc:r', inProgress('a'), 60_000, 5_000)
        await store.release('svc:r', 'b')
        assert.equal((await store.claim('svc:r', inProgress('c'), 60_000, 5_000)).claimed, false, 'only the holder releases')
        await store.release('svc:r', 'a')
        assert.equal((await store.claim('svc:r', inProgress('c'), 60_000, 5_000)).claimed, true)
        await store.settle('svc:r', 'c', completed(), 60_000)
        await store.release('svc:r', 'c')
        assert.equal((await store.claim('svc:r', inProgress('d'), 60_000, 5_000)).claimed, false)
      })

      await it('reports a holder that stopped renewing as not alive, and lets another request declare its outcome unknown only then', async () => {
        const store = make()
        await store.claim('svc:l', inProgress('a'), 60_000, 150)
        assert.equal(await store.renew('svc:l', 'a', 150), true)
        assert.equal(await store.renew('svc:l', 'x', 150), false)
        const unknown: SettledRecord = { state: 'unknown', fingerprint: 'f1', requestId: 'r-a', startedAt: '', completedAt: '', reason: 'gone.', check: 'look.' }
        assert.equal(await store.settle('svc:l', 'a', unknown, 60_000, { onlyIfAbandoned: true }), false, 'the lease is still held')
        await sleep(250)
        const seen = await store.claim('svc:l', inProgress('b'), 60_000, 150)
        assert.equal(seen.claimed ? undefined : seen.alive, false)
        assert.equal(await store.settle('svc:l', 'a', unknown, 60_000, { onlyIfAbandoned: true }), true)
        const after = await store.claim('svc:l', inProgress('c'), 60_000, 150)
        assert.equal(after.claimed ? undefined : after.record.state, 'unknown')
      })

      await it('forgets everything after the retention', async () => {
        const store = make()
        await store.claim('svc:t', inProgress('a'), 60_000, 5_000)
        await store.settle('svc:t', 'a', completed(), 100)
        await sleep(200)
        assert.equal((await store.claim('svc:t', inProgress('b'), 60_000, 5_000)).claimed, true)
      })
    })
  }

  const cachedRegistries: TenantRegistry[] = []
  after(async () => { for (const registry of cachedRegistries) await registry.close() })
  const registries: Array<[string, () => TenantRegistry]> = [
    ['redis', () => createRedisTenantRegistry({ redis: client, keyPrefix: prefix() })],
    ['redis, answered from memory between announced writes', () => {
      const keyPrefix = prefix()
      const registry = createCachedTenantRegistry(createRedisTenantRegistry({ redis: client, keyPrefix }), { feed: subscribeRegistryChanges({ redis: client, keyPrefix }), ttlMs: 60_000, maxEntries: 100 })
      cachedRegistries.push(registry)
      return registry
    }],
    ['memory', () => createMemoryTenantRegistry()]
  ]
  for (const [kind, make] of registries) {
    await describe(`tenant registry (${kind})`, async () => {
      await it('pages in creation order (then id) and resumes exactly after a position, same-millisecond tenants included', async () => {
        const registry = make()
        const same = '2026-01-01T00:00:00.000Z'
        const tenants = [tenant('T3', same), tenant('T1', same), tenant('T0', '2025-12-31T00:00:00.000Z'), tenant('T9', '2026-02-01T00:00:00.000Z'), tenant('T2', same)]
        for (const entry of tenants) await registry.record(entry)
        const ids: string[] = []
        let after: string | undefined
        for (;;) {
          const page = await registry.page('eu', after, 2)
          ids.push(...page.tenants.map((entry) => entry.id))
          assert.deepEqual(page.positions, page.tenants.map(positionOf))
          after = page.last
          if (!page.more) break
        }
        assert.deepEqual(ids, ['T0', 'T1', 'T2', 'T3', 'T9'])
        assert.deepEqual((await registry.page('us', undefined, 10)).tenants, [])
      })

      await it('updates only registered tenants, and follows an alias change in the hostname index', async () => {
        const registry = make()
        await registry.record(tenant('T1', '2026-01-01T00:00:00.000Z', { hostnames: ['t1.eu.qlikcloud.com', 'old.eu.qlikcloud.com'] }))
        assert.equal(await registry.update('eu', 'nope', { status: 'disabled' }, 'now'), undefined)
        assert.equal(await registry.get('eu', 'nope'), undefined)
        const updated = await registry.update('eu', 'T1', { status: 'disabled', name: 'acme', alias: 'new.eu.qlikcloud.com' }, '2026-01-02T00:00:00.000Z')
        assert.deepEqual({ ...updated }, { ...tenant('T1', '2026-01-01T00:00:00.000Z'), hostnames: ['t1.eu.qlikcloud.com', 'new.eu.qlikcloud.com'], status: 'disabled', name: 'acme', updatedAt: '2026-01-02T00:00:00.000Z' })
        assert.equal((await registry.findByHostname('eu', 'new.eu.qlikcloud.com'))?.id, 'T1')
        assert.equal(await registry.findByHostname('eu', 'old.eu.qlikcloud.com'), undefined)
        assert.equal((await registry.findByHostname('eu', 't1.eu.qlikcloud.com'))?.status, 'disabled')
        assert.equal(await registry.findByHostname('us', 't1.eu.qlikcloud.com'), undefined, 'per region')
      })

      await it('gives a hostname to one tenant at a time, and replaces the whole list from a Qlik answer (issue 10 §1)', async () => {
        const registry = make()
        const shared = 'shared.eu.qlikcloud.com'
        await registry.record(tenant('A', '2026-01-01T00:00:00.000Z', { hostnames: ['a.eu.qlikcloud.com', shared] }))
        await registry.record(tenant('B', '2026-01-01T00:00:01.000Z', { hostnames: ['b.eu.qlikcloud.com'] }))
        await registry.update('eu', 'B', { alias: shared }, '2026-01-02T00:00:00.000Z')
        assert.equal((await registry.findByHostname('eu', shared))?.id, 'B')
        assert.deepEqual((await registry.get('eu', 'A'))?.hostnames, ['a.eu.qlikcloud.com'], 'A no longer holds the alias B took')
        // A Qlik answer lists every hostname: the ones left go, the new ones are taken from whoever had them.
        await registry.update('eu', 'A', { hostnames: ['a.eu.qlikcloud.com', shared] }, '2026-01-03T00:00:00.000Z')
        assert.equal((await registry.findByHostname('eu', shared))?.id, 'A')
        assert.deepEqual((await registry.get('eu', 'B'))?.hostnames, ['b.eu.qlikcloud.com'])
        await registry.update('eu', 'A', { hostnames: ['a.eu.qlikcloud.com'] }, '2026-01-04T00:00:00.000Z')
        assert.equal(await registry.findByHostname('eu', shared), undefined, 'a hostname nobody lists now is nobody\'s')
        assert.equal((await registry.findByHostname('eu', 'a.eu.qlikcloud.com'))?.id, 'A')
      })
    })
  }

  const auditLogs: Array<[string, (maxLen: number) => AuditLog]> = [
    ['redis', (maxLen) => createRedisAuditLog({ redis: client, keyPrefix: prefix(), maxLen })],
    ['memory', (maxLen) => createMemoryAuditLog({ maxLen })]
  ]
  for (const [kind, make] of auditLogs) {
    await describe(`audit log (${kind})`, async () => {
      await it('reads newest first, resumes before an id, and bounds by time', async () => {
        const log = make(1_000)
        for (let n = 1; n <= 7; n++) await log.append(event(n, n === 3 ? { tenant: 'T1', idempotencyKey: 'k' } : {}))
        const all = await log.read({ count: 100 })
        assert.deepEqual(all.map((entry) => entry.event.requestId), ['r-7', 'r-6', 'r-5', 'r-4', 'r-3', 'r-2', 'r-1'])
        assert.deepEqual({ tenant: all[4]?.event.tenant, key: all[4]?.event.idempotencyKey, duration: all[4]?.event.durationMs }, { tenant: 'T1', key: 'k', duration: 3 })
        const page = await log.read({ count: 3 })
        const rest = await log.read({ count: 100, before: page.at(-1)?.id })
        assert.deepEqual(rest.map((entry) => entry.event.requestId), ['r-4', 'r-3', 'r-2', 'r-1'])
        const ms = Number(all[0]?.id.split('-')[0])
        assert.equal((await log.read({ count: 100, fromMs: ms + 60_000 })).length, 0)
        assert.equal((await log.read({ count: 100, toMs: ms - 60_000 })).length, 0)
        assert.equal((await log.read({ count: 100, fromMs: ms - 60_000, toMs: ms + 60_000 })).length, 7)
      })

      await it('keeps about maxLen entries', async () => {
        const log = make(10)
        await Promise.all(Array.from({ length: 500 }, async (_, n) => { await log.append(event(n + 1)) }))
        const kept = await log.read({ count: 1_000 })
        assert.equal(kept[0]?.event.requestId, 'r-500', 'the newest is kept')
        // MAXLEN ~ trims whole nodes (up to 100 entries each), so "about" is generous but bounded.
        assert.ok(kept.length >= 10 && kept.length <= 200, `${kept.length} entries kept`)
      })
    })
  }

  await it('caps the memory audit log at its own capacity whatever the configured length', async () => {
    const log = createMemoryAuditLog({ maxLen: 1_000_000 })
    for (let n = 1; n <= MEMORY_AUDIT_CAPACITY + 5; n++) await log.append(event(n))
    const kept = await log.read({ count: MEMORY_AUDIT_CAPACITY * 2 })
    assert.equal(kept.length, MEMORY_AUDIT_CAPACITY)
    assert.equal(kept.at(-1)?.event.requestId, 'r-6')
  })
})
