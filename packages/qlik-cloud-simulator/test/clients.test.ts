import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { CLIENT_ID, CLIENT_SECRET, REGISTER, call, envelope, mint, startSimulator } from './helpers.js'
import type { QlikSimulator } from '../src/index.js'

const usersOf = async (sim: QlikSimulator, host: string, token: string): Promise<Array<{ id: string, clientId?: string, subject: string }>> => {
  const res = await call(sim, '/api/v1/users?limit=100', { host, token })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.data
}

await describe('simulator: recreating a region\'s client', async () => {
  let sim: QlikSimulator
  before(async () => { sim = await startSimulator() })
  after(() => sim.close())
  beforeEach(() => sim.reset({ state: true }))

  await it('gives a new id and secret; the old pair is refused and its tokens die; the new client gets a new bot user, the old one stays', async () => {
    const tenant = sim.addTenant({ region: 'eu', hostnames: ['acme.eu.qlikcloud.com'] })
    const host = 'acme.eu.qlikcloud.com'
    const oldRegister = await mint(sim)
    const oldTenant = await mint(sim, host)
    const oldBot = (await usersOf(sim, host, oldTenant)).find((user) => user.clientId === CLIENT_ID)
    assert.ok(oldBot !== undefined)

    const res = await call(sim, '/__sim/clients/eu/recreate', { method: 'POST' })
    assert.equal(res.status, 200)
    const { clientId, clientSecret } = res.body as { clientId: string, clientSecret: string }
    assert.notEqual(clientId, CLIENT_ID)
    assert.equal(typeof clientSecret, 'string')
    assert.equal(res.body.revokedTokens, 2)

    const refused = await call(sim, '/oauth/token', { body: { grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET } })
    assert.equal(refused.status, 401)
    assert.equal(envelope(refused).title, 'invalid_client')
    assert.equal((await call(sim, `/api/v1/tenants/${tenant.id}`, { token: oldRegister })).status, 401, 'the old client\'s register token died')
    assert.equal((await call(sim, '/api/v1/users/me', { host, token: oldTenant })).status, 401, 'the old client\'s tenant token died')
    const refusedMixed = await call(sim, '/oauth/token', { body: { grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: clientSecret } })
    assert.equal(refusedMixed.status, 401, 'the old id with the new secret is refused')

    const newTenant = await mint(sim, host, clientSecret, clientId)
    const users = await usersOf(sim, host, newTenant)
    const bots = users.filter((user) => user.subject.startsWith('qlikbot\\'))
    assert.deepEqual(bots.map((user) => user.clientId).sort(), [CLIENT_ID, clientId].sort(), 'a second bot user appeared, the first one stayed')
    assert.ok(users.some((user) => user.id === oldBot.id))
    assert.ok(await mint(sim, REGISTER, clientSecret, clientId))
  })

  await it('takes a chosen id and secret without echoing the secret, and restores the configured client on a state reset', async () => {
    const res = await call(sim, '/__sim/clients/eu/recreate', { body: { clientId: 'eu-client-2', clientSecret: 'eu-secret-2' } })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { region: 'eu', clientId: 'eu-client-2', revokedTokens: 0 })
    assert.ok(await mint(sim, REGISTER, 'eu-secret-2', 'eu-client-2'))
    const inProcess = sim.recreateClient('eu')
    assert.ok(await mint(sim, REGISTER, inProcess.clientSecret, inProcess.clientId))
    sim.reset({ state: true })
    assert.ok(await mint(sim), 'state reset restores the configured client')
  })

  await it('answers bad input with an error and changes nothing', async () => {
    assert.equal((await call(sim, '/__sim/clients/fr/recreate', { body: {} })).status, 404)
    assert.equal((await call(sim, '/__sim/clients/eu/recreate', { body: { clientSecret: '' } })).status, 400)
    assert.equal((await call(sim, '/__sim/clients/eu/recreate', { body: { surprise: 1 } })).status, 400)
    assert.equal((await call(sim, '/__sim/clients/eu/recreate', { body: { clientId: 'test-us-client' } })).status, 409, 'another region\'s id')
    assert.ok(await mint(sim), 'the configured client still works')
  })
})

await describe('simulator: token requests on an unknown tenant host (guessUnknownTenantTokenStatus)', async () => {
  const body = { grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }

  await it('answers 401 with a LOGIN-2 envelope by default', async (t) => {
    const sim = await startSimulator()
    t.after(() => sim.close())
    const res = await call(sim, '/oauth/token', { host: 'nosuchtenant.eu.qlikcloud.com', body })
    assert.equal(res.status, 401)
    assert.equal(envelope(res).code, 'LOGIN-2')
    assert.equal((await call(sim, '/api/v1/users/me', { host: 'nosuchtenant.eu.qlikcloud.com' })).status, 404, 'other requests to an unknown host stay 404')
    assert.equal((await call(sim, '/oauth/token', { host: 'www.example.com', body })).status, 404, 'a host outside every region stays 404')
    assert.equal(sim.counters().mints['nosuchtenant.eu.qlikcloud.com'], undefined)
  })

  await it('answers 404 when the option says so', async (t) => {
    const sim = await startSimulator({ guessUnknownTenantTokenStatus: 404 })
    t.after(() => sim.close())
    const res = await call(sim, '/oauth/token', { host: 'nosuchtenant.eu.qlikcloud.com', body })
    assert.equal(res.status, 404)
    assert.equal(envelope(res).code, 'HTTP-404')
  })
})
