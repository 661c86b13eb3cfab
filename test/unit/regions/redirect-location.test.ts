import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { rewriteLocation } from '../../../src/regions/redirect-location.js'

const context = { upstreamHost: 'acme.eu.qlikcloud.com', brokerPrefix: '/regions/eu/tenants/acme.eu.qlikcloud.com', brokerOrigin: 'https://broker.internal' }

await describe('rewriteLocation', async () => {
  await it('turns a redirect to the same Qlik host into the broker\'s route, absolute as Qlik gave it absolute', () => {
    assert.equal(rewriteLocation('https://acme.eu.qlikcloud.com/api/v1/users/abc', context), 'https://broker.internal/regions/eu/tenants/acme.eu.qlikcloud.com/api/v1/users/abc')
    assert.equal(rewriteLocation('https://ACME.eu.qlikcloud.com./api/v1/tenants/T1?x=1', context), 'https://broker.internal/regions/eu/tenants/acme.eu.qlikcloud.com/api/v1/tenants/T1?x=1')
  })

  await it('keeps a relative redirect relative', () => {
    assert.equal(rewriteLocation('/api/v1/users/abc', context), '/regions/eu/tenants/acme.eu.qlikcloud.com/api/v1/users/abc')
  })

  await it('refuses any other target: other hosts, other schemes, ports, credentials, paths outside /api/v1', () => {
    for (const location of [
      'https://evil.example.com/api/v1/users/abc',
      'https://other.eu.qlikcloud.com/api/v1/users/abc',
      '//evil.example.com/api/v1/users',
      'http://acme.eu.qlikcloud.com/api/v1/users/abc',
      'https://acme.eu.qlikcloud.com:8443/api/v1/users/abc',
      'https://user:pw@acme.eu.qlikcloud.com/api/v1/users/abc',
      'https://acme.eu.qlikcloud.com/login',
      '/api/v1/../../admin',
      'https://acme.eu.qlikcloud.com/api/v1/users/%2e%2e/x',
      'javascript:alert(1)',
      'https://acme.eu.qlikcloud.com.evil.com/api/v1/users'
    ]) {
      assert.equal(rewriteLocation(location, context), undefined, location)
    }
  })
})
