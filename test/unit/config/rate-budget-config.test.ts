import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '../../../src/config/config-error.js'
import { loadConfig } from '../../../src/config/load-config.js'

function problemsOf (env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
    return error.problems.join('\n')
  }
  assert.fail('the configuration was accepted')
}

await describe('Qlik rate budget settings', async () => {
  await it('defaults to Qlik\'s limits over its 5-minute window, a 1 s skew margin and 2 % headroom, with the built-in special tiers', () => {
    const { qlik } = loadConfig({})
    assert.deepEqual([qlik.tier1Limit, qlik.tier2Limit], [{ requests: 5000, windowMs: 300_000 }, { requests: 500, windowMs: 300_000 }])
    assert.deepEqual([qlik.budgetSkewMs, qlik.budgetHeadroomPct, qlik.rateBuckets], [1_000, 2, undefined])
  })

  await it('reads a table of special buckets from QLIK_RATE_BUCKETS', () => {
    const { qlik } = loadConfig({ QLIK_TIER1_LIMIT: '2500/5m', QLIK_RATE_BUCKETS: '[{"name":"reloads","method":"POST","path":"/api/v1/reloads","limit":"40/60s"},{"name":"exports","method":"*","path":"/api/v1/apps/*/export/**","limit":"10/1m"}]' })
    assert.deepEqual(qlik.tier1Limit, { requests: 2500, windowMs: 300_000 })
    assert.deepEqual(qlik.rateBuckets, [
      { name: 'reloads', method: 'POST', path: '/api/v1/reloads', limit: { requests: 40, windowMs: 60_000 } },
      { name: 'exports', method: '*', path: '/api/v1/apps/*/export/**', limit: { requests: 10, windowMs: 60_000 } }
    ])
  })

  await it('refuses a table that is not JSON, a bucket named like a tier, a bad limit or one bucket with two limits, saying what is wrong', () => {
    assert.match(problemsOf({ QLIK_RATE_BUCKETS: 'reloads=50/60s' }), /^QLIK_RATE_BUCKETS \(qlik\.rateBuckets\): .*JSON array/m)
    assert.match(problemsOf({ QLIK_RATE_BUCKETS: '[{"name":"tier2","method":"POST","path":"/x","limit":"1/1s"}]' }), /tier1 and tier2 are the tiers/)
    assert.match(problemsOf({ QLIK_RATE_BUCKETS: '[{"name":"r","method":"post","path":"x","limit":"50 per minute"}]' }), /QLIK_RATE_BUCKETS/)
    assert.match(problemsOf({ QLIK_RATE_BUCKETS: '[{"name":"r","method":"POST","path":"/a","limit":"1/1s"},{"name":"r","method":"POST","path":"/b","limit":"2/1s"}]' }), /bucket "r" is given two different limits/)
    assert.match(problemsOf({ QLIK_BUDGET_HEADROOM_PCT: '80' }), /^QLIK_BUDGET_HEADROOM_PCT/m)
    assert.match(problemsOf({ QLIK_BUDGET_SKEW_MS: '-1' }), /^QLIK_BUDGET_SKEW_MS/m)
  })
})
