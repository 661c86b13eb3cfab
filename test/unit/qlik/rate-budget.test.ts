import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import { createMemoryRateBudget, createRedisRateBudget, type RateBudget } from '../../../src/qlik/rate-budget.js'
import { windowShape } from '../../../src/qlik/rate-window.js'
import { captureLogs } from '../../support/log-capture.js'
import { startRedisServer, type RedisServer } from '../../support/redis-server.js'

/** Qlik's own shape: 1,000/min and 100/min counted over 5 minutes; reloads 50/min (reference §5, §11). */
const QLIK = new Map([
  ['tier1', { requests: 5000, windowMs: 300_000 }],
  ['tier2', { requests: 500, windowMs: 300_000 }],
  ['reloads', { requests: 50, windowMs: 60_000 }]
])
const MARGINS = { skewMs: 1_000, headroom: 0.02 }

/** The most send times in any window of `windowMs` (Qlik's count when it judges the last of them). */
function mostInAnyWindow (sendTimes: number[], windowMs: number): number {
  const sorted = [...sendTimes].sort((a, b) => a - b)
  let most = 0
  let first = 0
  for (let last = 0; last < sorted.length; last++) {
    while ((sorted[last] ?? 0) - (sorted[first] ?? 0) >= windowMs) first++
    most = Math.max(most, last - first + 1)
  }
  return most
}

async function burst (budget: RateBudget, bucket: string, count: number): Promise<number[]> {
  const reservations = await Promise.all(Array.from({ length: count }, async () => await budget.reserve('h', bucket)))
  return reservations.map((reservation) => reservation.granted ? reservation.delayMs : -1)
}

await describe('rate budget', async () => {
  await it('budgets a little under the limit over a little more than the window', () => {
    assert.deepEqual(windowShape({ requests: 5000, windowMs: 300_000 }, MARGINS), { requests: 4900, windowMs: 301_000 })
    assert.deepEqual(windowShape({ requests: 1, windowMs: 1_000 }, MARGINS), { requests: 1, windowMs: 2_000 }, 'never below one request')
  })

  await describe('in memory (one process)', async () => {
    await it('sends at once a burst that fits in what is left of the window, reads and writes alike', async () => {
      const budget = createMemoryRateBudget({ buckets: QLIK, maxWaitMs: 10_000, margins: MARGINS }, () => 0)
      assert.deepEqual(new Set(await burst(budget, 'tier1', 1000)), new Set([0]), '1,000 GETs on an idle host')
      assert.deepEqual(new Set(await burst(budget, 'tier2', 200)), new Set([0]), '200 writes on an idle host')
    })

    await it('delays only once the window is full, until its oldest sends have left it, and never fits more than the limit in a window', async () => {
      let clock = 0
      const budget = createMemoryRateBudget({ buckets: QLIK, maxWaitMs: 400_000, margins: MARGINS }, () => clock)
      const sendTimes: number[] = []
      // 1.5 × Qlik's Tier 2 rate (2.5 writes/s) for three windows, one request every 400 ms.
      for (; clock < 900_000; clock += 400) {
        const reservation = await budget.reserve('h', 'tier2')
        // The queue grows at 1.5 × the rate: late in the run a request would wait past maxWait.
        if (!reservation.granted) continue
        if (sendTimes.length < 490) assert.equal(reservation.delayMs, 0, `request ${sendTimes.length} fits in the window`)
        if (sendTimes.length === 490) assert.equal(clock + reservation.delayMs, 301_000, 'the first one over waits for the oldest send to leave the window (and the skew)')
        sendTimes.push(clock + reservation.delayMs)
      }
      assert.ok(mostInAnyWindow(sendTimes, 300_000) <= 490, `at most ${mostInAnyWindow(sendTimes, 300_000)} in a window`)
      const sentInThreeWindows = sendTimes.filter((at) => at < 900_000).length
      assert.ok(sentInThreeWindows >= 0.95 * 1500, `${sentInThreeWindows} of Qlik's 1,500 in three windows`)
    })

    await it('refuses, with the time until it would fit, a request that would wait longer than maxWait', async () => {
      let clock = 0
      const budget = createMemoryRateBudget({ buckets: QLIK, maxWaitMs: 2_000, margins: MARGINS }, () => clock)
      await burst(budget, 'reloads', 49)
      clock = 10_000
      assert.deepEqual(await budget.reserve('h', 'reloads'), { granted: false, retryAfterMs: 51_000 })
      clock = 59_500
      assert.deepEqual(await budget.reserve('h', 'reloads'), { granted: true, delayMs: 1_500 })
    })

    await it('pauses only the bucket that Qlik answered 429 for, until Retry-After has passed', async () => {
      const clock = 1_000
      const budget = createMemoryRateBudget({ buckets: QLIK, maxWaitMs: 5_000, margins: MARGINS }, () => clock)
      await budget.pause('h', 'tier2', 2_000)
      assert.deepEqual(await budget.reserve('h', 'tier2'), { granted: true, delayMs: 2_000 })
      assert.deepEqual(await budget.reserve('h', 'reloads'), { granted: true, delayMs: 0 }, 'a special bucket is not its tier')
      assert.deepEqual(await budget.reserve('h', 'tier1'), { granted: true, delayMs: 0 })
      assert.deepEqual(await budget.reserve('other', 'tier2'), { granted: true, delayMs: 0 }, 'another host is not paused')
    })

    await it('refuses a bucket it has no limit for', async () => {
      const budget = createMemoryRateBudget({ buckets: QLIK, maxWaitMs: 5_000 })
      await assert.rejects(budget.reserve('h', 'nope'), /no Qlik rate limit is configured for bucket "nope"/)
    })
  })

  await describe('in Redis, shared by replicas', async () => {
    let redis: RedisServer
    before(async () => { redis = await startRedisServer() })
    after(async () => { await redis.close() })

    /** A client that counts the scripts it runs: the budget's Redis round trips. */
    function countingClient (): { client: Redis, calls: () => number } {
      const client = redis.client()
      let calls = 0
      const evalsha = client.evalsha.bind(client)
      client.evalsha = (async (...args: Parameters<Redis['evalsha']>) => { calls++; return await evalsha(...args) }) as Redis['evalsha']
      return { client, calls: () => calls }
    }

    await it('lets two replicas fill one window together: a burst goes at once up to the limit, the rest waits for the window', async () => {
      const logs = captureLogs()
      const small = new Map([['tier1', { requests: 100, windowMs: 60_000 }]])
      const options = { buckets: small, maxWaitMs: 120_000, margins: MARGINS, keyPrefix: `rb-${Date.now()}:`, logger: logs.logger }
      const replicas = [createRedisRateBudget({ ...options, redis: redis.client() }), createRedisRateBudget({ ...options, redis: redis.client() })]
      const delays = (await Promise.all(Array.from({ length: 150 }, async (_, n) => await replicas[n % 2]?.reserve('host-a', 'tier1')))).map((r) => r?.granted === true ? r.delayMs : -1)
      assert.equal(delays.filter((delay) => delay === 0).length, 98, 'the limit less the headroom goes at once')
      const delayed = delays.filter((delay) => delay !== 0)
      assert.equal(delayed.length, 52)
      assert.ok(delayed.every((delay) => delay > 59_000 && delay <= 61_000), `the rest waits a window plus the skew: ${Math.min(...delayed)}–${Math.max(...delayed)} ms`)
    })

    await it('costs far fewer Redis round trips than requests: a replica leases what its waiting requests need', async () => {
      const logs = captureLogs()
      const counting = countingClient()
      const budget = createRedisRateBudget({ buckets: QLIK, maxWaitMs: 10_000, margins: MARGINS, keyPrefix: `rb-lease-${Date.now()}:`, logger: logs.logger, redis: counting.client })
      const delays = await burst(budget, 'tier1', 500)
      assert.deepEqual(new Set(delays), new Set([0]), '500 GETs on an idle host go at once')
      assert.ok(counting.calls() <= 10, `${counting.calls()} round trips for 500 requests`)
    })

    await it('gives back to the shared window the leased sends it could not use in time', async () => {
      const logs = captureLogs()
      const client = redis.client()
      const keyPrefix = `rb-give-back-${Date.now()}:`
      let clock = 0
      const budget = createRedisRateBudget({ buckets: QLIK, maxWaitMs: 10_000, margins: MARGINS, keyPrefix, logger: logs.logger, redis: client, now: () => clock })
      for (let n = 0; n < 20; n++) await budget.reserve('h', 'tier1')
      clock = 100 // 21 requests in 100 ms: the next lease is sized for the next 50 ms, 10 sends
      await budget.reserve('h', 'tier1')
      clock = 200 // nobody came for the other 9 in time
      await budget.reserve('h', 'tier1')
      assert.equal(await client.hget(`${keyPrefix}budget-meta:{h:tier1}`, 'total'), '22', 'the window holds the 22 sends made, not the 9 leased and unused')
    })

    await it('keeps the window\'s count right when a request is refused after old sends expired', async () => {
      const logs = captureLogs()
      const client = redis.client()
      const keyPrefix = `rb-refused-${Date.now()}:`
      const [logKey, metaKey] = [`${keyPrefix}budget-log:{h:tier1}`, `${keyPrefix}budget-meta:{h:tier1}`]
      const [seconds] = await client.time()
      const now = Number(seconds) * 1000
      // Four sends booked earlier: one a window ago, three a second ago; the window holds 3.
      await client.zadd(logKey, now - 120_000, '1:1', now - 1_000, '2:1', now - 1_000, '3:1', now - 1_000, '4:1')
      await client.hset(metaKey, 'total', 4, 'seq', 4)
      const budget = createRedisRateBudget({ buckets: new Map([['tier1', { requests: 3, windowMs: 60_000 }]]), maxWaitMs: 0, margins: { skewMs: 0, headroom: 0 }, keyPrefix, logger: logs.logger, redis: client })
      const refused = await budget.reserve('h', 'tier1')
      assert.equal(refused.granted, false, 'the window is full')
      assert.equal(await client.hget(metaKey, 'total'), '3', 'the expired send no longer counts, though this request was refused')
    })

    await it('shares a 429\'s pause between replicas, for that bucket only', async () => {
      const logs = captureLogs()
      const options = { buckets: QLIK, maxWaitMs: 10_000, margins: MARGINS, keyPrefix: `rb-pause-${Date.now()}:`, logger: logs.logger }
      const [a, b] = [createRedisRateBudget({ ...options, redis: redis.client() }), createRedisRateBudget({ ...options, redis: redis.client() })]
      await a.pause('h', 'tier2', 3_000)
      const paused = await b.reserve('h', 'tier2')
      assert.ok(paused.granted && paused.delayMs > 2_500 && paused.delayMs <= 3_000, JSON.stringify(paused))
      assert.deepEqual(await b.reserve('h', 'reloads'), { granted: true, delayMs: 0 })
      assert.deepEqual(await b.reserve('h', 'tier1'), { granted: true, delayMs: 0 })
    })

    await it('keeps budgeting per process when Redis is unreachable', async () => {
      const logs = captureLogs()
      const dead = redis.client()
      dead.disconnect()
      const budget = createRedisRateBudget({ buckets: QLIK, maxWaitMs: 100, keyPrefix: 'dead:', logger: logs.logger, redis: dead })
      assert.deepEqual(new Set(await burst(budget, 'tier2', 100)), new Set([0]), 'a burst that fits goes at once from the local window')
      assert.match(logs.text(), /Qlik rate budget kept per process/)
      const refused = await budget.reserve('h', 'reloads').then(async () => await burst(budget, 'reloads', 60))
      assert.ok(refused.includes(-1), 'the local window still refuses past the limit')
    })
  })
})
