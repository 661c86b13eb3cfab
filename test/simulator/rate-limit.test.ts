import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { REGISTER, call, mint, startSimulator } from './helpers.js'
import type { QlikSimulator } from '../../src/simulator/index.js'

await describe('simulator rate limits', async () => {
  let sim: QlikSimulator
  let clock = 0
  before(async () => {
    sim = await startSimulator({ rateLimits: { tier1PerWindow: 3, tier2PerWindow: 2, windowMs: 10_000 }, now: () => clock, guessRegisterServesTenantReads: true }) // GET/PATCH on the register host as Tier 1/2 probes (a guess)
  })
  after(() => sim.close())
  beforeEach(() => {
    clock = Date.parse('2026-01-01T00:00:00Z')
    sim.reset({ state: true })
  })

  await it('answers 429 with Retry-After and Qlik\'s body once a tier is spent, until the window ends', async () => {
    const token = await mint(sim) // tier 2: 1 of 2
    const tenant = sim.addTenant({ region: 'eu' })
    for (let i = 0; i < 3; i++) assert.equal((await call(sim, `/api/v1/tenants/${tenant.id}`, { token })).status, 200)
    clock += 2500
    const limited = await call(sim, `/api/v1/tenants/${tenant.id}`, { token })
    assert.equal(limited.status, 429)
    assert.equal(limited.headers['retry-after'], '8')
    const [error] = limited.body.errors
    assert.deepEqual(error, { code: 'HTTP-429', title: 'API rate limit reached.', detail: 'You need to wait 8 seconds until limit is lifted.' })
    assert.equal(sim.counters().rateLimited, 1)

    // Tier 2 is a separate budget: one write left.
    const write = await call(sim, `/api/v1/tenants/${tenant.id}`, { method: 'PATCH', token, body: [{ op: 'replace', path: '/name', value: 'n' }] })
    assert.equal(write.status, 204)
    assert.equal((await call(sim, `/api/v1/tenants/${tenant.id}`, { method: 'PATCH', token, body: [] })).status, 429)

    clock += 7500
    assert.equal((await call(sim, `/api/v1/tenants/${tenant.id}`, { token })).status, 200, 'new window')
  })

  await it('limits /oauth/token as tier 2 and keeps budgets per host', async () => {
    await mint(sim)
    await mint(sim)
    const third = await call(sim, '/oauth/token', { body: { grant_type: 'client_credentials', client_id: 'test-eu-client', client_secret: 'test-eu-secret' } })
    assert.equal(third.status, 429)
    assert.ok(Number(third.headers['retry-after']) >= 1)
    const tenantHost = sim.addTenant({ region: 'eu' }).hostnames[0] as string
    assert.ok(await mint(sim, tenantHost), 'a tenant host has its own budget')
    assert.equal(sim.counters().tokenRequests, 4)
    assert.deepEqual(sim.counters().mints, { [REGISTER]: 2, [tenantHost]: 1 })
  })

  await it('never rate-limits the control API', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await call(sim, '/__sim/counters')).status, 200)
  })
})
