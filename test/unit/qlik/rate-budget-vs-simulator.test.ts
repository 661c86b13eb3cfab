import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createMemoryRateBudget } from '../../../src/qlik/rate-budget.js'
import { createRateLimiter } from '@qlik-broker/qlik-cloud-simulator'

/** Qlik's Tier 2, 100/min counted over 5 minutes (reference §5, §11). */
const TIER2 = { requests: 500, windowMs: 300_000 }

interface Outcome { sent: number, qlik429: number, refusedByBroker: number }

/**
 * Drives the broker's budget at 1.5 × Qlik's rate for three windows, on one
 * clock, and hands every granted request to the simulator's limiter when it
 * reaches Qlik: 300–500 ms after the broker let it go (network, a late timer).
 */
async function drive (guessWindowStepMs: number): Promise<Outcome> {
  let clock = 0
  const budget = createMemoryRateBudget({ buckets: new Map([['tier2', TIER2]]), maxWaitMs: 10_000 }, () => clock)
  const qlik = createRateLimiter({ tier1PerWindow: 5000, tier2PerWindow: TIER2.requests, windowMs: TIER2.windowMs, specialLimits: [], guessWindowStepMs, now: () => clock })
  const inFlight: number[] = []
  const outcome: Outcome = { sent: 0, qlik429: 0, refusedByBroker: 0 }
  const deliverUntil = (time: number): void => {
    inFlight.sort((a, b) => a - b)
    for (let next = inFlight[0]; next !== undefined && next <= time; next = inFlight[0]) {
      inFlight.shift()
      clock = next
      if (qlik.take('tenant|client', 'POST', '/api/v1/spaces', 2) === 0) outcome.sent++
      else outcome.qlik429++
    }
  }
  const interval = 60_000 / (1.5 * 100)
  for (let n = 0, arrival = 0; arrival < 3 * TIER2.windowMs; n++, arrival = n * interval) {
    deliverUntil(arrival)
    clock = arrival
    const reservation = await budget.reserve('tenant', 'tier2')
    if (reservation.granted) inFlight.push(arrival + reservation.delayMs + 300 + (n * 37) % 200)
    else outcome.refusedByBroker++
  }
  deliverUntil(Infinity)
  return outcome
}

await describe('the broker\'s budget against the simulator\'s limiter, in Qlik\'s shape', async () => {
  for (const step of [0, 1_000]) {
    await it(`never provokes a 429 and uses at least 95 % of what Qlik allows (guessWindowStepMs ${step})`, async () => {
      const outcome = await drive(step)
      assert.equal(outcome.qlik429, 0)
      assert.ok(outcome.sent >= 0.95 * 3 * TIER2.requests, `${outcome.sent} of Qlik's ${3 * TIER2.requests} in three windows`)
      assert.ok(outcome.refusedByBroker > 0, 'the overload is refused by the broker, not by Qlik')
    })
  }

  await it('is only as safe as its skew margin: a slide coarser than the margin would meet 429s', async () => {
    const outcome = await drive(5_000)
    assert.ok(outcome.qlik429 > 0, 'a 5 s step is beyond the default 1 s margin (QLIK_BUDGET_SKEW_MS)')
  })
})
