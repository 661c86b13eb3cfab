import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bearer, http } from '../support/http.js'
import { assertNoLeak } from '../support/leaks.js'
import { sensitiveValues, startStack } from '../support/stack.js'

await describe('tenant-level pass-through', async () => {
  await it('mints a separate token on the tenant host and never sends the register token there', async (t) => {
    const stack = await startStack(t)
    const admin = bearer(stack.keys.admin)
    const created = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: admin, body: { licenseKey: 'lk' } })
    const tenant = created.json<{ id: string, hostnames: string[] }>()
    const hostname = tenant.hostnames[0] ?? ''

    const redirect = await http(stack.url, 'GET', `/regions/eu/tenants/${tenant.id}/api/v1/users/me`, { headers: admin })
    assert.equal(redirect.status, 302, redirect.text)
    const location = String(redirect.headers.location)
    assert.ok(location.startsWith(`${stack.url}/regions/eu/tenants/${tenant.id}/api/v1/users/`), `Qlik's redirect comes back as the broker's own route: ${location}`)
    const byId = await http(stack.url, 'GET', new URL(location).pathname, { headers: admin })
    assert.equal(byId.status, 200, byId.text)
    const me = byId.json<{ subject: string, clientId: string, tenantId: string }>()
    assert.equal(me.subject, 'qlikbot\\demo-eu-client', 'the caller sees the regional client\'s bot user')
    assert.equal(me.tenantId, tenant.id)

    const byHost = await http(stack.url, 'GET', `/regions/eu/tenants/${hostname.toUpperCase()}/api/v1/users?limit=5`, { headers: admin })
    assert.equal(byHost.status, 200, byHost.text)
    assert.ok(byHost.json<{ data: unknown[] }>().data.length >= 1)

    const createdUser = await http(stack.url, 'POST', `/regions/eu/tenants/${hostname}/api/v1/users`, { headers: admin, body: { subject: 'idp|ada', name: 'Ada', email: 'ada@example.com' } })
    assert.equal(createdUser.status, 201, createdUser.text)
    const spaces = await http(stack.url, 'GET', `/regions/eu/tenants/${hostname}/api/v1/spaces`, { headers: admin })
    assert.equal(spaces.status, 200)

    const counters = stack.simulator.counters()
    assert.deepEqual(counters.mints, { 'register.eu.qlikcloud.com': 1, [hostname]: 1 }, 'one token per host')
    assert.equal(counters.foreignHostTokenRequests, 0, 'no token ever went to a host it was not minted for')
    assertNoLeak({ logs: stack.logs.text(), responses: [byId.text, byHost.text, createdUser.text, spaces.text].join('\n') }, sensitiveValues(stack))
  })

  await it('passes Qlik\'s own errors back unchanged (status, body, content type)', async (t) => {
    const stack = await startStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const result = await http(stack.url, 'POST', `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users`, { headers: bearer(stack.keys.admin), body: { name: 'no email' } })
    assert.equal(result.status, 400)
    assert.match(String(result.headers['content-type']), /^application\/json/)
    assert.ok(Array.isArray(result.json<{ errors: unknown[] }>().errors), 'Qlik\'s errors envelope')
  })

  await it('refuses every SSRF-shaped tenant or path before any token is minted', async (t) => {
    const stack = await startStack(t)
    const admin = bearer(stack.keys.admin)
    const refusedTenants = [
      'evil.example.com',
      'acme.eu.qlikcloud.com.evil.com',
      'acme.us.qlikcloud.com',
      'a.b.eu.qlikcloud.com',
      'register.eu.qlikcloud.com',
      '127.0.0.1',
      '169.254.169.254',
      '%5B%3A%3A1%5D',
      'acme.eu.qlikcloud.com:8443',
      'user%40acme.eu.qlikcloud.com',
      'acme.eu.qlikcloud.com%2F..%2F',
      'acme.eu.qlikcloud.com%2Fx',
      'acme..eu.qlikcloud.com',
      '..'
    ]
    for (const tenant of refusedTenants) {
      const result = await http(stack.url, 'GET', `/regions/eu/tenants/${tenant}/api/v1/users`, { headers: admin })
      assert.ok([400, 404].includes(result.status), `${tenant} → ${result.status}`)
      assert.match(String(result.headers['content-type']), /^application\/problem\+json/, tenant)
      if (result.status === 400) assert.equal(result.json<{ code: string }>().code, 'QB_INVALID_TENANT', tenant)
    }
    const refusedPaths = [
      '/api/v1/../oauth/token',
      '/api/v1/%2e%2e/oauth/token',
      '/api/v1/users/%2F..%2Fx',
      '/api/v1//users',
      '/api/v1/users/a%5Cb',
      '/api/v1/users/%00'
    ]
    for (const path of refusedPaths) {
      const result = await http(stack.url, 'GET', `/regions/eu/tenants/acme.eu.qlikcloud.com${path}`, { headers: admin })
      assert.ok([400, 404].includes(result.status), `${path} → ${result.status}`)
      assert.match(String(result.headers['content-type']), /^application\/problem\+json/, path)
    }
    const counters = stack.simulator.counters()
    assert.equal(counters.tokenRequests, 0, 'no token was minted for any refused request')
    assert.deepEqual(counters.requests, {})
  })

  await it('applies tenant-api grants by method and path pattern', async (t) => {
    const stack = await startStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const host = tenant.hostnames[0] ?? ''
    const reader = bearer(stack.keys.reader)
    assert.equal((await http(stack.url, 'GET', `/regions/eu/tenants/${host}/api/v1/users/me`, { headers: reader })).status, 302)
    for (const [method, path] of [['POST', '/api/v1/users'], ['GET', '/api/v1/spaces'], ['DELETE', '/api/v1/users/x']] as const) {
      const result = await http(stack.url, method, `/regions/eu/tenants/${host}${path}`, { headers: reader, ...(method === 'POST' ? { body: { name: 'a', email: 'a@b.c' } } : {}) })
      assert.equal(result.status, 403, `${method} ${path}`)
    }
    assert.equal((await http(stack.url, 'GET', '/regions/us/tenants/acme.us.qlikcloud.com/api/v1/users/me', { headers: reader })).status, 403, 'reader has no grant in us')
  })

  await it('drops a token Qlik no longer accepts, mints a new one and retries once', async (t) => {
    const stack = await startStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const admin = bearer(stack.keys.admin)
    const host = tenant.hostnames[0] ?? ''
    assert.equal((await http(stack.url, 'GET', `/regions/eu/tenants/${host}/api/v1/users/me`, { headers: admin })).status, 302)
    assert.equal(stack.simulator.revokeTokens({ host }), 1)
    const again = await http(stack.url, 'GET', `/regions/eu/tenants/${host}/api/v1/users/me`, { headers: admin })
    assert.equal(again.status, 302, again.text)
    assert.equal(stack.simulator.counters().mints[host], 2)
  })

  await it('answers 409 QB_TENANT_DEACTIVATED for a deactivated tenant', async (t) => {
    const stack = await startStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu', status: 'disabled' })
    const result = await http(stack.url, 'GET', `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users/me`, { headers: bearer(stack.keys.admin) })
    assert.equal(result.status, 409, result.text)
    assert.equal(result.json<{ code: string }>().code, 'QB_TENANT_DEACTIVATED')
  })
})
