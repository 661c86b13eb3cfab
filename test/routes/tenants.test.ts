import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { bearer, http, type HttpResult } from '../support/http.js'
import { assertNoLeak, redisDump } from '../support/leaks.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { sensitiveValues, startStack } from '../support/stack.js'

function assertProblem (result: HttpResult, status: number, code: string): void {
  assert.equal(result.status, status, result.text)
  assert.match(String(result.headers['content-type']), /^application\/problem\+json/)
  const body = result.json<{ status: number, code: string, errors: Array<{ code: string, status: string }> }>()
  assert.equal(body.status, status)
  assert.equal(body.code, code)
  assert.equal(body.errors[0]?.code, code)
  assert.equal(body.errors[0]?.status, String(status))
}

await describe('tenant lifecycle routes', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('creates, reads, patches, deactivates and reactivates a tenant in eu as Qlik answers, leaking nothing', async (t) => {
    const stack = await startStack(t, { redis })
    const admin = bearer(stack.keys.admin)
    const responses: string[] = []

    const created = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: { ...admin, 'x-request-id': 'create-1' }, body: { licenseKey: 'lk-1' } })
    responses.push(created.text)
    assert.equal(created.status, 201, created.text)
    assert.match(String(created.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'the broker\'s own request id, not the caller\'s')
    const tenant = created.json<{ id: string, hostnames: string[], region: string, status: string }>()
    assert.equal(tenant.region, 'eu')
    assert.equal(tenant.status, 'active')
    assert.ok(stack.simulator.getTenant(tenant.id), 'the simulator holds the created tenant')
    const hostname = tenant.hostnames[0] ?? ''
    assert.match(hostname, /\.eu\.qlikcloud\.com$/)

    const read = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: admin })
    responses.push(read.text)
    assert.equal(read.status, 200)
    assert.equal(read.json<{ id: string }>().id, tenant.id)

    const patched = await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: admin, body: [{ op: 'replace', path: '/name', value: 'acme-prod' }] })
    assert.equal(patched.status, 204, patched.text)
    assert.equal(stack.simulator.getTenant(tenant.id)?.name, 'acme-prod')

    const wrongHost = await http(stack.url, 'POST', `/regions/eu/api/v1/tenants/${tenant.id}/actions/deactivate`, { headers: { ...admin, 'qlik-confirm-hostname': 'other.eu.qlikcloud.com' }, body: {} })
    assert.equal(wrongHost.status, 412, 'Qlik\'s 412 comes back as Qlik sent it')
    assert.ok(Array.isArray(wrongHost.json<{ errors: unknown[] }>().errors))
    assert.equal(stack.simulator.getTenant(tenant.id)?.status, 'active')

    const deactivated = await http(stack.url, 'POST', `/regions/eu/api/v1/tenants/${tenant.id}/actions/deactivate`, { headers: { ...admin, 'qlik-confirm-hostname': hostname }, body: { purgeAfterDays: 10 } })
    responses.push(deactivated.text)
    assert.equal(deactivated.status, 200, deactivated.text)
    assert.equal(deactivated.json<{ status: string }>().status, 'disabled')
    assert.equal(stack.simulator.getTenant(tenant.id)?.status, 'disabled')

    const reactivated = await http(stack.url, 'POST', `/regions/eu/api/v1/tenants/${tenant.id}/actions/reactivate`, { headers: { ...admin, 'qlik-confirm-hostname': hostname } })
    responses.push(reactivated.text)
    assert.equal(reactivated.status, 200, reactivated.text)
    assert.equal(stack.simulator.getTenant(tenant.id)?.status, 'active')

    const counters = stack.simulator.counters()
    assert.deepEqual(counters.mints, { 'register.eu.qlikcloud.com': 1, [hostname]: 1 }, 'one register token for create, deactivate and reactivate; GET and PATCH on the tenant\'s own host')
    assert.equal(counters.requests['GET /api/v1/tenants/{tenantId}'], 1)
    assert.equal(counters.foreignHostTokenRequests + counters.expiredTokenRequests + counters.unknownTokenRequests, 0)

    const client = redis.client()
    const dump = await redisDump(client)
    assert.match(dump, /token:\{eu:register\.eu\.qlikcloud\.com:/, 'the register token is cached in Redis')
    assertNoLeak({ logs: stack.logs.text(), responses: responses.join('\n'), redis: dump }, sensitiveValues(stack))
  })

  await it('refuses invalid bodies with 400 naming each problem, and sends nothing upstream', async (t) => {
    const stack = await startStack(t)
    const admin = bearer(stack.keys.admin)
    const cases: Array<[string, string, unknown, Record<string, string>?]> = [
      ['POST', '/regions/eu/api/v1/tenants', { licenseKey: 42 }],
      ['POST', '/regions/eu/api/v1/tenants', { licenseKey: 'x', name: 'unknown field' }],
      ['POST', '/regions/eu/api/v1/tenants', '{"licenseKey":'],
      ['PATCH', '/regions/eu/api/v1/tenants/abc123', []],
      ['PATCH', '/regions/eu/api/v1/tenants/abc123', [{ op: 'add', path: '/name', value: 'x' }]],
      ['PATCH', '/regions/eu/api/v1/tenants/abc123', [{ op: 'replace', path: '/enableAppOpeningFeedback', value: 'yes' }]],
      ['PATCH', '/regions/eu/api/v1/tenants/abc123', [{ op: 'replace', path: '/status', value: 'disabled' }]],
      ['POST', '/regions/eu/api/v1/tenants/abc123/actions/deactivate', { purgeAfterDays: 5 }, { 'qlik-confirm-hostname': 'a.eu.qlikcloud.com' }],
      ['POST', '/regions/eu/api/v1/tenants/abc123/actions/deactivate', {}],
      ['POST', '/regions/eu/api/v1/tenants/abc123/actions/reactivate', { extra: true }, { 'qlik-confirm-hostname': 'a.eu.qlikcloud.com' }],
      ['GET', '/regions/eu/api/v1/tenants/bad..id', undefined]
    ]
    for (const [method, path, body, headers] of cases) {
      const result = await http(stack.url, method, path, { headers: { ...admin, ...headers, ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}) }, body })
      assertProblem(result, 400, 'QB_INVALID_REQUEST')
      const problem = result.json<{ errors: Array<{ source?: { pointer: string } }> }>()
      assert.ok(problem.errors.length >= 1, `${method} ${path} names what was wrong`)
    }
    const counters = stack.simulator.counters()
    assert.equal(counters.tokenRequests, 0, 'no token minted for a refused request')
    assert.deepEqual(counters.requests, {}, 'the simulator received nothing')
  })

  await it('answers 404 problem+json for an unknown region and for an unknown route', async (t) => {
    const stack = await startStack(t)
    const result = await http(stack.url, 'POST', '/regions/zz/api/v1/tenants', { headers: bearer(stack.keys.admin), body: { licenseKey: 'x' } })
    assertProblem(result, 404, 'QB_UNKNOWN_REGION')
    assert.match(result.json<{ detail: string }>().detail, /configured: us, eu, de, uk, sg, ap, jp/)
    assertProblem(await http(stack.url, 'GET', '/nope'), 404, 'QB_NOT_FOUND')
    assert.equal(stack.simulator.counters().tokenRequests, 0)
  })

  await it('answers 401 without or with a wrong credential and 403 outside the policy, sending nothing upstream', async (t) => {
    const stack = await startStack(t)
    const create = { body: { licenseKey: 'x' } }
    const missing = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', create)
    assertProblem(missing, 401, 'QB_UNAUTHENTICATED')
    assert.match(String(missing.headers['www-authenticate']), /^Bearer/)
    assertProblem(await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { ...create, headers: bearer('qbk_' + 'A'.repeat(43)) }), 401, 'QB_UNAUTHENTICATED')
    assertProblem(await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { ...create, headers: { authorization: `Basic ${stack.keys.admin}` } }), 401, 'QB_UNAUTHENTICATED')

    const refused: Array<[keyof typeof stack.keys, string, string, unknown?, Record<string, string>?]> = [
      ['nobody', 'POST', '/regions/eu/api/v1/tenants', { licenseKey: 'x' }],
      ['reader', 'POST', '/regions/eu/api/v1/tenants', { licenseKey: 'x' }],
      ['reader', 'GET', '/regions/us/api/v1/tenants/abc123'],
      ['reader', 'PATCH', '/regions/eu/api/v1/tenants/abc123', [{ op: 'replace', path: '/name', value: 'n' }]],
      ['creator', 'POST', '/regions/us/api/v1/tenants', { licenseKey: 'x' }],
      ['creator', 'POST', '/regions/eu/api/v1/tenants/abc123/actions/deactivate', {}, { 'qlik-confirm-hostname': 'a.eu.qlikcloud.com' }],
      ['creator', 'GET', '/regions/eu/tenants/abc123/api/v1/users']
    ]
    for (const [caller, method, path, body, headers] of refused) {
      assertProblem(await http(stack.url, method, path, { headers: { ...bearer(stack.keys[caller]), ...headers }, body }), 403, 'QB_FORBIDDEN')
    }
    const counters = stack.simulator.counters()
    assert.equal(counters.tokenRequests, 0)
    assert.deepEqual(counters.requests, {})
  })

  await it('mints exactly one token for 200 concurrent first requests in one region', async (t) => {
    // Qlik's real Tier 1 budget would spread 200 requests over seconds; this test is about minting.
    const stack = await startStack(t, { env: { QLIK_TIER1_LIMIT: '100000/60s' } })
    const tenant = stack.simulator.addTenant({ region: 'de' })
    const host = tenant.hostnames[0] ?? ''
    const results = await Promise.all(Array.from({ length: 200 }, async () => http(stack.url, 'GET', `/regions/de/api/v1/tenants/${tenant.id}`, { headers: { ...bearer(stack.keys.admin), 'qlik-tenant-hostname': host } })))
    assert.deepEqual([...new Set(results.map((result) => result.status))], [200])
    assert.deepEqual(stack.simulator.counters().mints, { [host]: 1 })
  })
})
