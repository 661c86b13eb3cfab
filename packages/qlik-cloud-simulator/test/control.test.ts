import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { after, before, beforeEach, describe, it } from 'node:test'
import { CLIENT_ID, CLIENT_SECRET, REGISTER, call, createTenant, envelope, mint, startSimulator } from './helpers.js'
import type { QlikSimulator } from '../src/index.js'

const form = (secret: string) => ({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: secret })

await describe('simulator control API and robustness', async () => {
  let sim: QlikSimulator
  // These tests use GET/PATCH of a tenant on the register host as a probe: Qlik does not document it, the guess turns it on.
  before(async () => { sim = await startSimulator({ guessRegisterServesTenantReads: true }) })
  after(() => sim.close())
  beforeEach(() => sim.reset({ state: true }))

  await it('counts requests by route pattern, never by raw id, on any host', async () => {
    const { tenant, token } = await createTenant(sim)
    await call(sim, `/api/v1/tenants/${tenant.id}`, { token })
    await call(sim, `/api/v1/tenants/${tenant.id}`, { token })
    await call(sim, '/nope', { token })
    const res = await call(sim, '/__sim/counters', { host: '127.0.0.1' })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {
      mints: { [REGISTER]: 1 },
      tokenRequests: 1,
      requests: {
        'POST /oauth/token': 1,
        'POST /api/v1/tenants': 1,
        'GET /api/v1/tenants/{tenantId}': 2,
        'GET (unmatched)': 1
      },
      expiredTokenRequests: 0,
      foreignHostTokenRequests: 0,
      unknownTokenRequests: 0,
      rateLimited: 0,
      injected: { errors: 0, rateLimits: 0 },
      unknownHostRequests: 0
    })
    assert.ok(!JSON.stringify(res.body).includes(tenant.id))
  })

  await it('resets counters only, or state too', async () => {
    const { tenant } = await createTenant(sim)
    assert.deepEqual((await call(sim, '/__sim/reset', { body: {} })).status, 200)
    assert.equal(sim.counters().tokenRequests, 0)
    assert.equal(sim.tenants().length, 1, 'state kept')
    const res = await call(sim, '/__sim/reset', { body: { state: true } })
    assert.equal(res.status, 200)
    assert.equal(sim.tenants().length, 0)
    const gone = await call(sim, '/api/v1/users/me', { host: tenant.hostnames[0] })
    assert.equal(gone.status, 404, 'its host is unknown again')
  })

  await it('rotates a secret: old secret refused at once, old tokens still valid, new secret works', async () => {
    const oldToken = await mint(sim)
    const rotated = await call(sim, '/__sim/clients/eu/rotate', { body: { clientSecret: 'new-secret' } })
    assert.equal(rotated.status, 200)
    assert.deepEqual(rotated.body, { region: 'eu', clientId: CLIENT_ID }, 'a chosen secret is not echoed')
    const refused = await call(sim, '/oauth/token', { body: form(CLIENT_SECRET) })
    assert.equal(refused.status, 401)
    assert.equal(envelope(refused).title, 'invalid_client')
    assert.ok(await mint(sim, REGISTER, 'new-secret'))
    assert.equal((await call(sim, '/api/v1/tenants/x', { token: oldToken })).status, 404, 'old token still authenticates')

    const generated = await call(sim, '/__sim/clients/eu/rotate', { method: 'POST' })
    assert.equal(typeof generated.body.clientSecret, 'string')
    assert.ok(await mint(sim, REGISTER, generated.body.clientSecret))
    assert.equal((await call(sim, '/oauth/token', { body: form('new-secret') })).status, 401)

    assert.equal((await call(sim, '/__sim/clients/fr/rotate', { body: {} })).status, 404)
    const inProcess = sim.rotateSecret('eu')
    assert.ok(await mint(sim, REGISTER, inProcess))
    sim.reset({ state: true })
    assert.ok(await mint(sim), 'state reset restores the configured secret')
  })

  await it('revokes tokens per host or all; revoked tokens count as unknown', async () => {
    const tenant = sim.addTenant({ region: 'eu', hostnames: ['acme.eu.qlikcloud.com'] })
    assert.equal(tenant.name, 'acme')
    const registerToken = await mint(sim)
    const tenantToken = await mint(sim, 'acme.eu.qlikcloud.com')
    const res = await call(sim, '/__sim/tokens/revoke', { body: { host: 'ACME.eu.qlikcloud.com' } })
    assert.deepEqual(res.body, { revoked: 1 })
    assert.equal((await call(sim, '/api/v1/users/me', { host: 'acme.eu.qlikcloud.com', token: tenantToken })).status, 401)
    assert.equal(sim.counters().unknownTokenRequests, 1)
    assert.equal((await call(sim, `/api/v1/tenants/${tenant.id}`, { token: registerToken })).status, 200)
    assert.equal(sim.revokeTokens(), 1)
    assert.equal((await call(sim, `/api/v1/tenants/${tenant.id}`, { token: registerToken })).status, 401)
  })

  await it('lists, seeds and reads tenants through /__sim/tenants', async () => {
    const seeded = await call(sim, '/__sim/tenants', { body: { region: 'eu', id: 'fixedTenantId', hostnames: ['seed.eu.qlikcloud.com'] } })
    assert.equal(seeded.status, 201)
    assert.equal(seeded.body.id, 'fixedTenantId')
    assert.equal((await call(sim, '/__sim/tenants', { body: { region: 'eu', hostnames: ['seed.eu.qlikcloud.com'] } })).status, 400, 'hostname taken')
    assert.equal((await call(sim, '/__sim/tenants', { body: { region: 'eu', hostnames: ['x.us.qlikcloud.com'] } })).status, 400, 'wrong region')
    assert.equal((await call(sim, '/__sim/tenants', { body: { region: 'fr' } })).status, 400)
    const list = await call(sim, '/__sim/tenants')
    assert.deepEqual(list.body.data.map((t: { id: string }) => t.id), ['fixedTenantId'])
    assert.equal((await call(sim, '/__sim/tenants/fixedTenantId')).body.hostnames[0], 'seed.eu.qlikcloud.com')
    assert.equal((await call(sim, '/__sim/tenants/nope')).status, 404)
    const clients = await call(sim, '/__sim/clients')
    assert.ok(!JSON.stringify(clients.body).includes(CLIENT_SECRET), 'no secret in the client list')
    assert.equal(clients.body.data[0].registerHost, REGISTER)
    assert.equal((await call(sim, '/__sim/nothing')).status, 404)
  })

  await it('answers malformed JSON with 400 and oversized bodies with 413, and keeps serving', async () => {
    const token = await mint(sim)
    const bad = await call(sim, '/api/v1/tenants', { token, body: '{not json' })
    assert.equal(bad.status, 400)
    assert.equal(envelope(bad).detail, 'Malformed JSON body')
    assert.equal((await call(sim, '/__sim/faults', { method: 'PUT', body: '{' })).status, 400)

    const big = JSON.stringify({ licenseKey: 'x'.repeat(1024 * 1024 + 10) })
    const tooLarge = await call(sim, '/api/v1/tenants', { token, body: big })
    assert.equal(tooLarge.status, 413)
    assert.equal(envelope(tooLarge).code, 'HTTP-413')

    // Chunked (no Content-Length) is cut off too.
    async function * chunks () { for (let i = 0; i < 20; i++) yield Buffer.alloc(100 * 1024, 'a') }
    const chunked = await request(`${sim.url}/api/v1/tenants`, { method: 'POST', headers: { host: REGISTER, authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: Readable.from(chunks()) })
    assert.equal(chunked.statusCode, 413)
    await chunked.body.dump()

    assert.equal((await call(sim, '/__sim/healthz')).body.status, 'ok')
    assert.equal(sim.tenants().length, 0)
  })
})
