import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { REGISTER, call, envelope, mint, startSimulator } from './helpers.js'
import type { QlikSimulator } from '../src/index.js'

await describe('simulator fault injection', async () => {
  let sim: QlikSimulator
  let token: string
  before(async () => { sim = await startSimulator() })
  after(() => sim.close())
  beforeEach(async () => {
    sim.reset({ state: true })
    token = await mint(sim)
  })

  await it('phase before: answers 503 without acting', async () => {
    const set = await call(sim, '/__sim/faults', { method: 'PUT', body: { errorRate: 1, paths: ['/api/v1/tenants'] } })
    assert.equal(set.status, 200)
    assert.deepEqual(set.body, { faults: { errorRate: 1, paths: ['/api/v1/tenants'] } })
    const res = await call(sim, '/api/v1/tenants', { token, body: { licenseKey: 'lic' } })
    assert.equal(res.status, 503)
    assert.deepEqual(envelope(res), { code: 'HTTP-503', title: 'Service Unavailable', detail: 'Injected fault', status: '503' })
    assert.equal(sim.tenants().length, 0)
    assert.equal(sim.counters().injected.errors, 1)
    // Other paths are untouched, and so is the control API.
    assert.equal((await call(sim, '/oauth/token', { body: { grant_type: 'client_credentials', client_id: 'test-eu-client', client_secret: 'test-eu-secret' } })).status, 200)
    assert.equal((await call(sim, '/__sim/tenants')).status, 200)
  })

  await it('phase after: acts, then answers the injected error', async () => {
    sim.setFaults({ errorRate: 1, errorStatus: 502, phase: 'after', paths: ['/api/v1/tenants'] })
    const res = await call(sim, '/api/v1/tenants', { token, body: { licenseKey: 'lic' } })
    assert.equal(res.status, 502)
    assert.equal(envelope(res).code, 'HTTP-502')
    assert.equal(sim.tenants().length, 1, 'the tenant was created anyway')
  })

  await it('injects 429 with Retry-After 1, limited to hosts, and counts it apart from real limits', async () => {
    const tenantHost = sim.addTenant({ region: 'eu' }).hostnames[0] as string
    const tenantToken = await mint(sim, tenantHost)
    sim.setFaults({ rateLimitRate: 1, hosts: [tenantHost.toUpperCase()] })
    const res = await call(sim, '/api/v1/users/me', { host: tenantHost, token: tenantToken })
    assert.equal(res.status, 429)
    assert.equal(res.headers['retry-after'], '1')
    assert.equal(res.body.errors[0].code, 'HTTP-429')
    assert.equal((await call(sim, '/api/v1/tenants/x', { host: REGISTER, token })).status, 404, 'other host unaffected')
    const counters = sim.counters()
    assert.equal(counters.injected.rateLimits, 1)
    assert.equal(counters.rateLimited, 0)
  })

  await it('clears itself after `times` affected requests, and on DELETE', async () => {
    sim.setFaults({ errorRate: 1, times: 2 })
    assert.equal((await call(sim, '/api/v1/tenants/x', { token })).status, 503)
    assert.equal((await call(sim, '/api/v1/tenants/x', { token })).status, 503)
    assert.equal((await call(sim, '/api/v1/tenants/x', { token })).status, 404)
    assert.deepEqual((await call(sim, '/__sim/faults')).body, { faults: null })

    sim.setFaults({ errorRate: 1 })
    assert.equal((await call(sim, '/__sim/faults', { method: 'DELETE' })).status, 204)
    assert.equal((await call(sim, '/api/v1/tenants/x', { token })).status, 404)
  })

  await it('adds latency', async () => {
    sim.setFaults({ latencyMs: 150, paths: ['/api/v1/tenants/'] })
    const started = performance.now()
    assert.equal((await call(sim, '/api/v1/tenants/x', { token })).status, 404)
    assert.ok(performance.now() - started >= 140)
  })

  await it('rejects invalid faults', async () => {
    for (const body of [{ errorRate: 2 }, { phase: 'during' }, { bogus: true }, [1]]) {
      const res = await call(sim, '/__sim/faults', { method: 'PUT', body })
      assert.equal(res.status, 400, JSON.stringify(body))
    }
    assert.throws(() => sim.setFaults({ errorRate: -1 }))
  })
})
