import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { tenantsApiCall } from '../../../src/tenants/tenants-api-call.js'

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
})
