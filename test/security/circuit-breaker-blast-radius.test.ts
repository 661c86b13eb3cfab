import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createCircuitBreaker, isHostUnwellStatus } from '../../src/qlik/circuit-breaker.js'
import { bearer, http } from '../support/http.js'
import { startStack } from '../support/stack.js'

await describe('issue 10 §4: one caller\'s 5xx does not open a host\'s breaker for everybody', async () => {
  await it('keeps serving other callers after one caller provokes many 500s on the tenant host', async (t) => {
    const stack = await startStack(t, { env: { QLIK_BREAKER_FAILURES: '3', QLIK_RETRY_MAX_ATTEMPTS: '1' } })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const base = `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1`
    stack.simulator.setFaults({ errorRate: 1, errorStatus: 500, paths: ['/api/v1/spaces'] })
    for (let n = 0; n < 6; n++) {
      const provoked = await http(stack.url, 'POST', `${base}/spaces`, { headers: bearer(stack.keys.admin), body: { name: `s${n}`, type: 'shared' } })
      assert.equal(provoked.status, 500, 'Qlik\'s 500 comes back as Qlik sent it')
    }
    const other = await http(stack.url, 'GET', `${base}/users`, { headers: bearer(stack.keys.reader) })
    assert.equal(other.status, 200, `another caller still reaches the host: ${other.text}`)
    const region = await http(stack.url, 'GET', '/regions/eu', { headers: bearer(stack.keys.admin) })
    assert.deepEqual(region.json<{ breakers: Record<string, unknown> }>().breakers, { register: 'closed', openTenantHosts: 0 })
  })

  await it('still opens on 503s from different requests', async (t) => {
    const stack = await startStack(t, { env: { QLIK_BREAKER_FAILURES: '3', QLIK_RETRY_MAX_ATTEMPTS: '1' } })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const base = `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1`
    stack.simulator.setFaults({ errorRate: 1, errorStatus: 503, paths: ['/api/v1/spaces'] })
    for (let n = 0; n < 3; n++) assert.equal((await http(stack.url, 'GET', `${base}/spaces`, { headers: bearer(stack.keys.admin) })).status, 503)
    const fast = await http(stack.url, 'GET', `${base}/users`, { headers: bearer(stack.keys.reader) })
    assert.equal(fast.json<{ code: string }>().code, 'QB_UPSTREAM_UNAVAILABLE', 'a host that answers 503 to several requests is unwell')
  })
})

await describe('circuit breaker: what counts as the host being unwell', async () => {
  await it('counts 502, 503 and 504 only', () => {
    assert.deepEqual([400, 404, 409, 429, 500, 501, 502, 503, 504, 505].filter(isHostUnwellStatus), [502, 503, 504])
  })

  await it('counts the failures of one request (its retries) once', () => {
    const breaker = createCircuitBreaker({ failureThreshold: 2, cooldownMs: 1_000, now: () => 0 })
    for (let n = 0; n < 5; n++) breaker.failed('h', 'request-1')
    assert.equal(breaker.state('h'), 'closed', 'one request retried five times')
    breaker.failed('h', 'request-2')
    assert.equal(breaker.state('h'), 'open', 'two requests failing in a row')
  })
})
