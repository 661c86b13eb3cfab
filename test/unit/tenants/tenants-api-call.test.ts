import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BrokerError } from '../../../src/http/broker-error.js'
import { tenantsApiCall } from '../../../src/tenants/tenants-api-call.js'
import { pathCorpus } from '../../support/path-corpus.js'

await describe('tenantsApiCall', async () => {
  await it('gives the lifecycle action a call to Qlik\'s Tenants API needs', () => {
    assert.deepEqual(tenantsApiCall('GET', '/api/v1/tenants/T1'), { action: 'tenants:read', tenantId: 'T1' })
    assert.deepEqual(tenantsApiCall('HEAD', '/api/v1/tenants/T1'), { action: 'tenants:read', tenantId: 'T1' })
    assert.deepEqual(tenantsApiCall('PATCH', '/api/v1/tenants/T1'), { action: 'tenants:update', tenantId: 'T1' })
    assert.deepEqual(tenantsApiCall('DELETE', '/api/v1/tenants/T1'), { action: 'tenants:update', tenantId: 'T1' })
    assert.deepEqual(tenantsApiCall('POST', '/api/v1/tenants'), { action: 'tenants:create' })
    assert.deepEqual(tenantsApiCall('GET', '/api/v1/tenants/me'), { action: 'tenants:read' })
    assert.deepEqual(tenantsApiCall('POST', '/api/v1/tenants/T1/actions/deactivate'), { action: 'tenants:deactivate', tenantId: 'T1' })
    assert.deepEqual(tenantsApiCall('POST', '/api/v1/tenants/T1/actions/reactivate'), { action: 'tenants:reactivate', tenantId: 'T1' })
    assert.deepEqual(tenantsApiCall('POST', '/api/v1/tenants/T1/actions/other'), { action: 'tenants:update', tenantId: 'T1' })
  })

  await it('sees through case, percent-encoding and a trailing slash', () => {
    assert.deepEqual(tenantsApiCall('GET', '/API/V1/Tenants/T1'), { action: 'tenants:read', tenantId: 'T1' })
    assert.deepEqual(tenantsApiCall('PATCH', '/api/v1/%74enants/T1'), { action: 'tenants:update', tenantId: 'T1' })
    assert.deepEqual(tenantsApiCall('GET', '/api/v1/tenants/T1/'), { action: 'tenants:read', tenantId: 'T1' })
    assert.deepEqual(tenantsApiCall('GET', '/api/v1/tenants/'), { action: 'tenants:read' })
  })

  await it('leaves every other API to the tenantApi grants', () => {
    for (const path of ['/api/v1/users', '/api/v1/users/me', '/api/v1/tenantsx', '/api/v1/tenant-settings', '/api/v1/spaces/tenants']) {
      assert.equal(tenantsApiCall('GET', path), undefined, path)
    }
  })

  await it('refuses a malformed percent-encoding as a problem', () => {
    assert.throws(() => tenantsApiCall('GET', '/api/v1/%zz'), { code: 'QB_INVALID_PATH' })
  })

  await it('answers what decoding every segment answered, for every method, over 20,000 generated paths', () => {
    const outcome = (method: string, path: string): unknown => {
      try {
        return tenantsApiCall(method, path) ?? 'not the Tenants API'
      } catch (error) {
        return error instanceof BrokerError ? error.code : String(error)
      }
    }
    // The same path with its first letter percent-encoded means the same to Qlik, and is decoded segment by segment.
    const decodedOutcome = (method: string, path: string): unknown => {
      const first = path.charAt(1)
      if (path.startsWith('/') && (first === 'a' || first === 'A')) return outcome(method, `/%${first.charCodeAt(0).toString(16)}${path.slice(2)}`)
      // Nothing encoded and no "api" first: not the Tenants API, however it is decoded.
      return path.includes('%') ? outcome(method, path) : 'not the Tenants API'
    }
    let tenantsCalls = 0
    for (const path of pathCorpus(20_000, 7)) {
      for (const method of ['GET', 'POST', 'PATCH']) {
        const expected = decodedOutcome(method, path)
        if (typeof expected === 'object') tenantsCalls++
        assert.deepEqual(outcome(method, path), expected, `${method} ${JSON.stringify(path)}`)
      }
    }
    assert.ok(tenantsCalls > 1000, `${tenantsCalls} calls reached the Tenants API`)
  })
})
