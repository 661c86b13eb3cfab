import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createBucketTable, DOCUMENTED_SPECIAL_BUCKETS, TIER1_BUCKET, TIER2_BUCKET } from '../../../src/qlik/rate-buckets.js'

const TIERS = { tier1: { requests: 5000, windowMs: 300_000 }, tier2: { requests: 500, windowMs: 300_000 } }

await describe('rate buckets', async () => {
  await it('counts reads in Tier 1 and writes (register-host calls and /oauth/token included) in Tier 2', () => {
    const table = createBucketTable(TIERS, [])
    assert.deepEqual(['GET', 'head', 'OPTIONS'].map((method) => table.bucketOf(method, '/api/v1/users')), [TIER1_BUCKET, TIER1_BUCKET, TIER1_BUCKET])
    assert.deepEqual(['POST', 'PATCH', 'PUT', 'DELETE'].map((method) => table.bucketOf(method, '/api/v1/tenants')), [TIER2_BUCKET, TIER2_BUCKET, TIER2_BUCKET, TIER2_BUCKET])
    assert.equal(table.bucketOf('POST', '/oauth/token'), TIER2_BUCKET)
  })

  await it('puts the documented special tiers in buckets of their own, by method and path', () => {
    const table = createBucketTable(TIERS)
    assert.equal(table.bucketOf('POST', '/api/v1/reloads'), 'reloads')
    assert.equal(table.bucketOf('POST', '/api/v1/reloads?x=1'), 'reloads', 'the query is not part of the path')
    assert.equal(table.bucketOf('GET', '/api/v1/reloads'), TIER1_BUCKET, 'only the method the rule names')
    assert.equal(table.bucketOf('POST', '/api/v1/reloads/r1/actions/cancel'), TIER2_BUCKET)
    assert.deepEqual(table.limits.get('reloads'), DOCUMENTED_SPECIAL_BUCKETS[0]?.limit)
    assert.deepEqual(table.limits.get(TIER1_BUCKET), TIERS.tier1)
  })

  await it('matches * as one segment and a trailing ** as any rest; the first matching rule wins', () => {
    const limit = { requests: 10, windowMs: 60_000 }
    const table = createBucketTable(TIERS, [
      { name: 'apps-export', method: 'POST', path: '/api/v1/apps/*/export', limit },
      { name: 'audits', method: '*', path: '/api/v1/audits/**', limit }
    ])
    assert.equal(table.bucketOf('POST', '/api/v1/apps/a1/export'), 'apps-export')
    assert.equal(table.bucketOf('POST', '/api/v1/apps/a1/b/export'), TIER2_BUCKET)
    assert.equal(table.bucketOf('GET', '/api/v1/audits'), 'audits')
    assert.equal(table.bucketOf('DELETE', '/api/v1/audits/x/y'), 'audits')
    assert.equal(table.bucketOf('GET', '/api/v1/auditsx'), TIER1_BUCKET)
    assert.equal(table.bucketOf('PROPFIND', '/api/v1/audits/x'), 'audits', 'a method outside the standard ones still meets the * rules')
  })

  await it('keeps the rules\' order per method: a method rule listed after a * rule that matches does not win', () => {
    const limit = { requests: 10, windowMs: 60_000 }
    const table = createBucketTable(TIERS, [
      { name: 'any-export', method: '*', path: '/api/v1/apps/*/export', limit },
      { name: 'post-export', method: 'POST', path: '/api/v1/apps/*/export', limit },
      { name: 'post-apps', method: 'post', path: '/api/v1/apps/**', limit }
    ])
    for (let round = 0; round < 2; round++) {
      assert.equal(table.bucketOf('post', '/api/v1/apps/a1/export'), 'any-export')
      assert.equal(table.bucketOf('POST', '/api/v1/apps/a1'), 'post-apps')
      assert.equal(table.bucketOf('GET', '/api/v1/apps/a1'), TIER1_BUCKET)
    }
  })

  await it('refuses a special bucket named like a tier or given two limits', () => {
    const limit = { requests: 10, windowMs: 60_000 }
    assert.throws(() => createBucketTable(TIERS, [{ name: 'tier2', method: 'POST', path: '/x', limit }]), /is a tier/)
    assert.throws(() => createBucketTable(TIERS, [{ name: 'b', method: 'POST', path: '/x', limit }, { name: 'b', method: 'POST', path: '/y', limit: { requests: 11, windowMs: 60_000 } }]), /two different limits/)
  })
})
