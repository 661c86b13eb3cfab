import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { budgetShape, createMemoryRateBudget, createRedisRateBudget, tierOf } from '../../../src/qlik/rate-budget.js'
import { captureLogs } from '../../support/log-capture.js'
import { startRedisServer, type RedisServer } from '../../support/redis-server.js'

const LIMITS = { 1: { requests: 100, windowMs: 1_000 }, 2: { requests: 20, windowMs: 1_000 } }

/** Sends every granted reservation at its slot and counts the most in any window. */
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

await describe('rate budget', async () => {
  await it('classifies GET and HEAD as Tier 1 and writes as Tier 2', () => {
    assert.deepEqual(['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE'].map(tierOf), [1, 1, 2, 2, 2, 2])
  })

  await it('spaces slots so that no window of Qlik\'s length holds its limit', () => {
    const shape = budgetShape({ requests: 100, windowMs: 60_000 })
    assert.ok(shape.intervalMs > 600 && shape.intervalMs < 700, String(shape.intervalMs))
    assert.equal(shape.toleranceMs, 4 * shape.intervalMs, 'a burst of 5 (5 % of 100)')
  })

  await it('books slots in memory, waits within maxWait and refuses beyond it', async () => {
    let clock = 0
    const budget = createMemoryRateBudget({ limits: LIMITS, maxWaitMs: 500 }, () => clock)
    const sendTimes: number[] = []
    let refused = 0
    for (let n = 0; n < 100; n++) {
      const reservation = await budget.reserve('h', 2)
      if (reservation.granted) sendTimes.push(clock + reservation.delayMs)
      else refused++
      clock += 10
    }
    assert.ok(refused > 0, 'a 10x overload is partly refused')
    assert.ok(mostInAnyWindow(sendTimes, 1_000) < 20, `at most ${mostInAnyWindow(sendTimes, 1_000)} in a window`)
  })

  await it('holds back every request to a paused host and tier until Retry-After has passed', async () => {
    let clock = 1_000
    const budget = createMemoryRateBudget({ limits: LIMITS, maxWaitMs: 5_000 }, () => clock)
    await budget.pause('h', 1, 2_000)
    const reservation = await budget.reserve('h', 1)
    assert.ok(reservation.granted && reservation.delayMs >= 2_000)
    const otherTier = await budget.reserve('h', 2)
    assert.ok(otherTier.granted && otherTier.delayMs === 0, 'the other tier is not paused')
    clock += 10
  })

  await describe('in Redis, shared by replicas', async () => {
    let redis: RedisServer
    before(async () => { redis = await startRedisServer() })
    after(async () => { await redis.close() })

    await it('gives two replicas one schedule: together they never exceed the limit in a window', async () => {
      const logs = captureLogs()
      const options = { limits: LIMITS, maxWaitMs: 2_000, keyPrefix: `rb-${Date.now()}:`, logger: logs.logger }
      const replicas = [createRedisRateBudget({ ...options, redis: redis.client() }), createRedisRateBudget({ ...options, redis: redis.client() })]
      const started = Date.now()
      const sendTimes: number[] = []
      await Promise.all(Array.from({ length: 60 }, async (_, n) => {
        const reservation = await replicas[n % 2]?.reserve('host-a', 2)
        if (reservation?.granted === true) sendTimes.push(Date.now() - started + reservation.delayMs)
      }))
      assert.ok(sendTimes.length >= 20, `${sendTimes.length} granted`)
      assert.ok(mostInAnyWindow(sendTimes, 1_000) < LIMITS[2].requests, `at most ${mostInAnyWindow(sendTimes, 1_000)} in one window`)
    })

    await it('keeps budgeting per process when Redis is unreachable', async () => {
      const logs = captureLogs()
      const dead = redis.client()
      dead.disconnect()
      const budget = createRedisRateBudget({ limits: LIMITS, maxWaitMs: 100, keyPrefix: 'dead:', logger: logs.logger, redis: dead })
      const reservation = await budget.reserve('h', 1)
      assert.equal(reservation.granted, true)
      assert.match(logs.text(), /Qlik rate budget kept per process/)
    })
  })
})
