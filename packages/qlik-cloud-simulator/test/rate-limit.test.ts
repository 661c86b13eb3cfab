import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { REGISTER, call, mint, startSimulator } from './helpers.js'
import type { QlikSimulator } from '../src/index.js'
import { resolveOptions } from '../src/options.js'

await describe('simulator rate limits', async () => {
  let sim: QlikSimulator
  let clock = 0
  before(async () => {
    sim = await startSimulator({
      rateLimits: { tier1PerWindow: 3, tier2PerWindow: 2, windowMs: 10_000, specialLimits: [{ name: 'reloads', method: 'POST', pattern: '/api/v1/reloads', requests: 2, windowMs: 4_000 }] },
      now: () => clock,
      guessRegisterServesTenantReads: true // GET/PATCH on the register host as Tier 1/2 probes (a guess)
    })
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

  await it('slides the window: a request counts until it is one window old, not until a fixed window ends', async () => {
    const tenant = sim.addTenant({ region: 'eu' })
    const host = tenant.hostnames[0] as string
    const token = await mint(sim, host)
    const read = async (): Promise<number> => (await call(sim, '/api/v1/users', { host, token })).status
    const start = clock
    assert.equal(await read(), 200)
    clock = start + 4_000
    assert.equal(await read(), 200)
    assert.equal(await read(), 200)
    clock = start + 6_000
    const limited = await call(sim, '/api/v1/users', { host, token })
    assert.equal(limited.status, 429)
    assert.equal(limited.headers['retry-after'], '4', 'until the request at 0 s is 10 s old')
    clock = start + 10_000
    assert.equal(await read(), 200, 'the first request has left the window')
    const again = await call(sim, '/api/v1/users', { host, token })
    assert.equal(again.status, 429, 'the two at 4 s still count: a fixed window would have started afresh')
    assert.equal(again.headers['retry-after'], '4')
    clock = start + 14_000
    assert.equal(await read(), 200)
  })

  await it('counts a special endpoint in its own bucket: its 429 blocks neither tier, and a spent tier does not block it', async () => {
    const tenant = sim.addTenant({ region: 'eu' })
    const host = tenant.hostnames[0] as string
    const token = await mint(sim, host) // tier 2: 1 of 2
    const reload = async (): Promise<number> => (await call(sim, '/api/v1/reloads', { method: 'POST', host, token, body: { appId: 'app-1' } })).status
    assert.equal(await reload(), 201)
    assert.equal(await reload(), 201)
    const limited = await call(sim, '/api/v1/reloads', { method: 'POST', host, token, body: { appId: 'app-1' } })
    assert.equal(limited.status, 429)
    assert.equal(limited.headers['retry-after'], '4', 'the reloads window is its own')
    assert.equal((await call(sim, '/api/v1/spaces', { method: 'POST', host, token, body: { name: 's1', type: 'shared' } })).status, 201, 'Tier 2 still has room')
    assert.equal((await call(sim, '/api/v1/spaces', { method: 'POST', host, token, body: { name: 's2', type: 'shared' } })).status, 429, 'Tier 2 is now spent')
    clock += 4_000
    assert.equal(await reload(), 201, 'reloads go again while Tier 2 is still blocked')
    assert.equal((await call(sim, '/api/v1/spaces', { method: 'POST', host, token, body: { name: 's3', type: 'shared' } })).status, 429)
  })

  await it('never rate-limits the control API', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await call(sim, '/__sim/counters')).status, 200)
  })

  await it('takes Qlik\'s shape by default: 5,000 and 500 per 5 minutes, reloads 50 per minute', () => {
    const options = resolveOptions({})
    assert.deepEqual([options.tier1PerWindow, options.tier2PerWindow, options.windowMs, options.guessWindowStepMs], [5000, 500, 300_000, 0])
    assert.deepEqual(options.specialLimits, [{ name: 'reloads', method: 'POST', pattern: '/api/v1/reloads', requests: 50, windowMs: 60_000 }])
  })
})

await describe('simulator rate limits, guessing that Qlik slides its window in steps', async () => {
  let sim: QlikSimulator
  let clock = 0
  before(async () => {
    sim = await startSimulator({ rateLimits: { tier1PerWindow: 2, tier2PerWindow: 100, windowMs: 10_000, guessWindowStepMs: 5_000 }, now: () => clock })
  })
  after(() => sim.close())

  await it('keeps a request counted until its whole step is one window old', async () => {
    clock = Date.parse('2026-01-01T00:00:00Z')
    const start = clock
    const tenant = sim.addTenant({ region: 'eu' })
    const host = tenant.hostnames[0] as string
    const token = await mint(sim, host)
    const read = async (): Promise<{ status: number, headers: Record<string, string | string[] | undefined> }> => await call(sim, '/api/v1/users', { host, token })
    clock = start + 1_000
    assert.equal((await read()).status, 200)
    assert.equal((await read()).status, 200)
    clock = start + 11_000
    const limited = await read()
    assert.equal(limited.status, 429, 'per millisecond it would have left at 11 s; its step [0, 5 s) leaves at 15 s')
    assert.equal(limited.headers['retry-after'], '4')
    clock = start + 15_000
    assert.equal((await read()).status, 200)
  })
})
