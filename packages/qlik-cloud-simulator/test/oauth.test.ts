import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { createQlikSimulator } from '../src/index.js'
import { CLIENT_ID, CLIENT_SECRET, REGISTER, call, createTenant, envelope, mint, startSimulator } from './helpers.js'
import type { QlikSimulator } from '../src/index.js'

const creds = { grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }

await describe('simulator /oauth/token', async () => {
  let sim: QlikSimulator
  // These tests use GET/PATCH of a tenant on the register host as a probe: Qlik does not document it, the guess turns it on.
  before(async () => { sim = await startSimulator({ guessRegisterServesTenantReads: true }) })
  after(() => sim.close())
  beforeEach(() => sim.reset({ state: true }))

  await it('mints with a JSON body: bearer token, expires_in, ISO expires_at', async () => {
    const started = Date.now()
    const res = await call(sim, '/oauth/token', { body: { ...creds, scope: 'admin_classic' } })
    assert.equal(res.status, 200)
    assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_at', 'expires_in', 'token_type'])
    assert.equal(res.body.token_type, 'bearer')
    assert.equal(res.body.expires_in, 21600)
    assert.match(res.body.access_token, /^[A-Za-z0-9_-]{43}$/)
    const expiresAt = Date.parse(res.body.expires_at)
    assert.ok(Math.abs(expiresAt - (started + 21600_000)) < 5000, res.body.expires_at)
    assert.equal(res.headers['cache-control'], 'no-store')
    const counters = sim.counters()
    assert.deepEqual(counters.mints, { [REGISTER]: 1 })
    assert.equal(counters.tokenRequests, 1)
  })

  await it('mints with a form body, and the Host match ignores case and port', async () => {
    const res = await call(sim, '/oauth/token', {
      host: 'Register.EU.QlikCloud.com:443',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(creds).toString()
    })
    assert.equal(res.status, 200)
    assert.equal(res.body.token_type, 'bearer')
    assert.deepEqual(sim.counters().mints, { [REGISTER]: 1 })
  })

  await it('answers a wrong secret with 401 invalid_client in the errors envelope', async () => {
    const res = await call(sim, '/oauth/token', { body: { ...creds, client_secret: 'wrong' } })
    assert.equal(res.status, 401)
    assert.deepEqual(envelope(res), { code: 'OAUTH-1', title: 'invalid_client', detail: 'Client authentication failed', status: '401' })
    assert.deepEqual(sim.counters().mints, {})
    assert.equal(sim.counters().tokenRequests, 1)
  })

  await it('refuses another region\'s client on this region\'s hosts', async () => {
    const res = await call(sim, '/oauth/token', { body: { ...creds, client_id: 'test-us-client', client_secret: 'test-us-secret' } })
    assert.equal(res.status, 401)
    assert.equal(envelope(res).code, 'OAUTH-1')
  })

  await it('rejects other grant types and missing fields with 400', async () => {
    const wrongGrant = await call(sim, '/oauth/token', { body: { ...creds, grant_type: 'password' } })
    assert.equal(wrongGrant.status, 400)
    assert.equal(envelope(wrongGrant).status, '400')
    const missing = await call(sim, '/oauth/token', { body: { grant_type: 'client_credentials' } })
    assert.equal(missing.status, 400)
    const badJson = await call(sim, '/oauth/token', { body: '{"grant_type":' })
    assert.equal(badJson.status, 400)
    assert.equal(envelope(badJson).detail, 'Malformed JSON body')
  })

  await it('answers an unknown host with a 404 envelope', async () => {
    const res = await call(sim, '/oauth/token', { host: 'register.fr.qlikcloud.com', body: creds })
    assert.equal(res.status, 404)
    assert.equal(envelope(res).code, 'HTTP-404')
    assert.equal(sim.counters().unknownHostRequests, 1)
  })

  await it('binds a token to its host: a register token is refused on a tenant host and counted foreign', async () => {
    const { tenant, token } = await createTenant(sim)
    const host = tenant.hostnames[0]
    const res = await call(sim, '/api/v1/users/me', { host, token })
    assert.equal(res.status, 401)
    assert.deepEqual(envelope(res), { code: 'HTTP-401', title: 'Unauthorized', detail: 'Token was not issued for this host', status: '401' })
    const tenantToken = await mint(sim, host)
    const back = await call(sim, `/api/v1/tenants/${tenant.id}`, { host: REGISTER, token: tenantToken })
    assert.equal(back.status, 401)
    assert.equal(sim.counters().foreignHostTokenRequests, 2)
    assert.equal((await call(sim, '/api/v1/users/me', { host, token: tenantToken })).status, 302, 'accepted: the redirect to the bot user')
  })

  await it('refuses missing and unknown tokens, counting unknown ones', async () => {
    const missing = await call(sim, '/api/v1/tenants/x')
    assert.equal(missing.status, 401)
    assert.equal(envelope(missing).code, 'HTTP-401')
    const unknown = await call(sim, '/api/v1/tenants/x', { token: 'not-a-token' })
    assert.equal(unknown.status, 401)
    assert.equal(sim.counters().unknownTokenRequests, 1)
  })

  await it('refuses token requests on a deactivated tenant host with TENANT_DEACTIVATED', async () => {
    const tenant = sim.addTenant({ region: 'eu', status: 'disabled' })
    const res = await call(sim, '/oauth/token', { host: tenant.hostnames[0] as string, body: creds })
    assert.equal(res.status, 401)
    assert.deepEqual(envelope(res), {
      code: 'TENANT_DEACTIVATED',
      title: 'Tenant has been deactivated. Contact your administrator for more details.',
      status: '401'
    })
    assert.equal(sim.counters().tokenRequests, 1)
    assert.deepEqual(sim.counters().mints, {})
  })
})

await describe('simulator token expiry', async () => {
  await it('refuses an expired token and counts it (controlled clock)', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z')
    const sim = await startSimulator({ tokenLifetimeSeconds: 60, now: () => clock, guessRegisterServesTenantReads: true })
    try {
      const res = await call(sim, '/oauth/token', { body: creds })
      assert.equal(res.body.expires_in, 60)
      assert.equal(res.body.expires_at, '2026-01-01T00:01:00.000Z')
      const token = res.body.access_token
      const tenant = sim.addTenant({ region: 'eu' })
      clock += 59_999
      assert.equal((await call(sim, `/api/v1/tenants/${tenant.id}`, { token })).status, 200)
      clock += 1
      const expired = await call(sim, `/api/v1/tenants/${tenant.id}`, { token })
      assert.equal(expired.status, 401)
      assert.equal(envelope(expired).detail, 'Token has expired')
      assert.equal(sim.counters().expiredTokenRequests, 1)
      assert.equal(sim.counters().unknownTokenRequests, 0)
    } finally {
      await sim.close()
    }
  })

  await it('expires on the real clock with a short lifetime', async () => {
    const sim = await createQlikSimulator({ clients: [{ region: 'eu', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }], tokenLifetimeSeconds: 0.5 })
    try {
      const token = await mint(sim)
      assert.equal((await call(sim, '/api/v1/tenants/none', { token })).status, 404)
      await new Promise((resolve) => setTimeout(resolve, 600))
      assert.equal((await call(sim, '/api/v1/tenants/none', { token })).status, 401)
      assert.equal(sim.counters().expiredTokenRequests, 1)
    } finally {
      await sim.close()
    }
  })
})
