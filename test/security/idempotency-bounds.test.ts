import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import { storageKey } from '../../src/idempotency/idempotency-key.js'
import { IdempotencyQuotaExceeded, type InProgressRecord, type SettledRecord } from '../../src/idempotency/idempotency-store.js'
import { createMemoryIdempotencyStore } from '../../src/idempotency/memory-idempotency-store.js'
import { createRedisIdempotencyStore } from '../../src/idempotency/redis-idempotency-store.js'
import { assertProblem } from '../governance/support.js'
import { bearer, http } from '../support/http.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { startStack } from '../support/stack.js'

const DAY = 86_400_000
const inProgress = (owner: string): InProgressRecord => ({ state: 'in-progress', owner, fingerprint: 'f', requestId: owner, startedAt: new Date(0).toISOString() })
const completed = (bodyBytes: number): SettledRecord => ({
  state: 'completed',
  fingerprint: 'f',
  requestId: 'r',
  startedAt: new Date(0).toISOString(),
  completedAt: new Date(0).toISOString(),
  answer: { statusCode: 201, headers: { 'content-type': 'application/json' }, body: Buffer.alloc(bodyBytes, 7).toString('base64') }
})

await describe('issue 10 §5: idempotency records are bounded', async () => {
  await it('keeps the in-process store within its bytes and entries, oldest out, never one in progress', async () => {
    const store = createMemoryIdempotencyStore(Date.now, { maxEntries: 50, maxBytes: 10 * 1024 * 1024 })
    const held = inProgress('slow')
    assert.deepEqual(await store.claim('svc:held', held, DAY, DAY), { claimed: true })
    // The issue's attack: 300 idempotent POSTs with 300 KB answers.
    for (let n = 0; n < 300; n++) {
      const key = `svc:${n}`
      assert.deepEqual(await store.claim(key, inProgress(key), DAY, DAY), { claimed: true })
      assert.equal(await store.settle(key, key, completed(300 * 1024), DAY), true)
      const usage = store.usage()
      assert.ok(usage.bytes <= 10 * 1024 * 1024 && usage.entries <= 50, `after ${n + 1}: ${JSON.stringify(usage)}`)
    }
    const usage = store.usage()
    assert.ok(usage.evictions >= 260, JSON.stringify(usage))
    assert.equal((await store.claim('svc:299', inProgress('again'), DAY, DAY)).claimed, false, 'the newest is still replayed')
    assert.equal((await store.claim('svc:0', inProgress('again'), DAY, DAY)).claimed, true, 'the oldest went first')
    const stillHeld = await store.claim('svc:held', inProgress('second'), DAY, DAY)
    assert.equal(stillHeld.claimed, false, 'a record in progress is never dropped')
  })

  await describe('in Redis, per caller', async () => {
    let redis: RedisServer
    let client: Redis
    before(async () => {
      redis = await startRedisServer()
      client = redis.client()
    })
    after(async () => { await redis.close() })

    await it('refuses a caller\'s keys past its bound, and keeps its answers without a body past its bytes', async () => {
      const store = createRedisIdempotencyStore({ redis: client, keyPrefix: 'qb-bounds:', perCaller: { maxKeys: 3, maxBytes: 1_000_000 } })
      for (let n = 0; n < 3; n++) {
        const key = storageKey('greedy', `k${n}`)
        assert.deepEqual(await store.claim(key, inProgress(`o${n}`), DAY, DAY), { claimed: true })
        assert.equal(await store.settle(key, `o${n}`, completed(300_000), DAY), true)
      }
      const fourth = storageKey('greedy', 'k3')
      await assert.rejects(store.claim(fourth, inProgress('o3'), DAY, DAY), IdempotencyQuotaExceeded)
      assert.equal(await client.exists(`qb-bounds:idempotency:{${fourth}}`), 0, 'nothing claimed')
      assert.deepEqual(await store.claim(storageKey('modest', 'k0'), inProgress('m'), DAY, DAY), { claimed: true }, 'another caller is not affected')
      const stored = await Promise.all([0, 1, 2].map(async (n) => JSON.parse(await client.get(`qb-bounds:idempotency:{${storageKey('greedy', `k${n}`)}}`) ?? '{}') as { answer: { body: string, bodyOmitted?: true } }))
      assert.deepEqual(stored.map((record) => record.answer.bodyOmitted === true), [false, false, true], 'the answer past 1 MB is kept without its body')
    })

    await it('answers 429 QB_IDEMPOTENCY_QUOTA_EXCEEDED through the broker, sending nothing', async (t) => {
      const stack = await startStack(t, { redis, env: { IDEMPOTENCY_MAX_KEYS_PER_CALLER: '2' } })
      const create = async (key: string): Promise<Awaited<ReturnType<typeof http>>> => await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: { ...bearer(stack.keys.admin), 'idempotency-key': key }, body: { licenseKey: key } })
      assert.equal((await create('a')).status, 201)
      assert.equal((await create('b')).status, 201)
      const before = stack.simulator.counters().requests['POST /api/v1/tenants'] ?? 0
      assertProblem(await create('c'), 429, 'QB_IDEMPOTENCY_QUOTA_EXCEEDED')
      assert.equal(stack.simulator.counters().requests['POST /api/v1/tenants'] ?? 0, before)
      assert.equal((await create('a')).headers['idempotent-replayed'], 'true', 'keys already held still replay')
    })
  })
})
