import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { CLIENT_ID, REGISTER, call, envelope, mint, startSimulator } from './helpers.js'
import type { QlikSimulator } from '../../src/simulator/index.js'

await describe('simulator tenant-level APIs', async () => {
  let sim: QlikSimulator
  let host: string
  let tenantId: string
  let token: string
  before(async () => { sim = await startSimulator() })
  after(() => sim.close())
  beforeEach(async () => {
    sim.reset({ state: true })
    const tenant = sim.addTenant({ region: 'eu' })
    host = tenant.hostnames[0] as string
    tenantId = tenant.id
    token = await mint(sim, host)
  })

  await it('answers /users/me with a redirect to the client\'s bot user, stable across tokens', async () => {
    const redirect = await call(sim, '/api/v1/users/me', { host, token })
    assert.equal(redirect.status, 302, 'a redirect, as Qlik documents it (reference §11)')
    const location = new URL(String(redirect.headers.location))
    assert.equal(location.origin, `https://${host}`, 'to the same tenant host')
    const res = await call(sim, location.pathname, { host, token })
    assert.equal(res.status, 200)
    const me = res.body
    assert.equal(me.subject, `qlikbot\\${CLIENT_ID}`)
    assert.equal(me.subject.split('\\').length, 2, 'one backslash in the actual string')
    assert.equal(me.clientId, CLIENT_ID)
    assert.equal(me.tenantId, tenantId)
    assert.equal(me.name, 'EU OAuth Client')
    assert.deepEqual(me.roles, ['TenantAdmin'])
    assert.equal(me.status, 'active')
    assert.match(me.id, /^[0-9a-f]{24}$/)
    const again = await call(sim, '/api/v1/users/me', { host, token: await mint(sim, host) })
    assert.equal(again.headers.location, redirect.headers.location)
    assert.equal((await call(sim, '/api/v1/users/000000000000000000000000', { host, token })).status, 404)
  })

  await it('names the bot user after the client when a name is configured', async () => {
    const us = sim.addTenant({ region: 'us' }).hostnames[0] as string
    const usToken = await mint(sim, us, 'test-us-secret', 'test-us-client')
    const redirect = await call(sim, '/api/v1/users/me', { host: us, token: usToken })
    const res = await call(sim, new URL(String(redirect.headers.location)).pathname, { host: us, token: usToken })
    assert.equal(res.body.name, 'US Broker Client')
  })

  await it('creates users, validates them, and lists them with filter, limit and next', async () => {
    const created = await call(sim, '/api/v1/users', { host, token, body: { name: 'Ada', email: 'ada@example.com', subject: 'idp|ada', roles: ['TenantAdmin'] } })
    assert.equal(created.status, 201)
    assert.equal(created.body.tenantId, tenantId)
    assert.equal(created.body.subject, 'idp|ada')
    assert.equal((await call(sim, '/api/v1/users', { host, token, body: { name: 'Ada', email: 'not-an-email' } })).status, 400)
    assert.equal((await call(sim, '/api/v1/users', { host, token, body: { email: 'x@example.com' } })).status, 400)
    const dup = await call(sim, '/api/v1/users', { host, token, body: { name: 'Ada 2', email: 'ada2@example.com', subject: 'idp|ada' } })
    assert.equal(dup.status, 409)

    const all = await call(sim, '/api/v1/users', { host, token })
    assert.equal(all.body.data.length, 2, 'bot user + Ada')
    assert.equal(all.body.links.self.href, `https://${host}/api/v1/users`)

    const filter = encodeURIComponent(`clientId eq "${CLIENT_ID}"`)
    const bots = await call(sim, `/api/v1/users?filter=${filter}`, { host, token })
    assert.deepEqual(bots.body.data.map((u: { subject: string }) => u.subject), [`qlikbot\\${CLIENT_ID}`])
    const bySubject = await call(sim, `/api/v1/users?filter=${encodeURIComponent(`subject eq "qlikbot\\\\${CLIENT_ID}"`)}`, { host, token })
    assert.equal(bySubject.body.data.length, 1)

    const page1 = await call(sim, '/api/v1/users?limit=1', { host, token })
    assert.equal(page1.body.data.length, 1)
    const next = new URL(page1.body.links.next.href)
    const page2 = await call(sim, `${next.pathname}${next.search}`, { host, token })
    assert.equal(page2.body.data[0].name, 'Ada')
    assert.equal(page2.body.links.next, undefined)

    assert.equal((await call(sim, '/api/v1/users?limit=0', { host, token })).status, 400)
    assert.equal((await call(sim, '/api/v1/users?filter=foo', { host, token })).status, 400)
  })

  await it('lists and creates spaces', async () => {
    const empty = await call(sim, '/api/v1/spaces', { host, token })
    assert.equal(empty.status, 200)
    assert.deepEqual(empty.body.data, [])
    assert.equal(empty.body.links.self.href, `https://${host}/api/v1/spaces`)
    const created = await call(sim, '/api/v1/spaces', { host, token, body: { name: 'Finance', type: 'shared' } })
    assert.equal(created.status, 201)
    const me = await call(sim, '/api/v1/users/me', { host, token })
    assert.equal(String(me.headers.location).split('/').at(-1), created.body.ownerId)
    assert.equal((await call(sim, '/api/v1/spaces', { host, token, body: { name: 'Finance', type: 'shared' } })).status, 409)
    assert.equal((await call(sim, '/api/v1/spaces', { host, token, body: { name: 'X', type: 'weird' } })).status, 400)
    assert.equal((await call(sim, '/api/v1/spaces', { host, token })).body.data.length, 1)
  })

  await it('answers 404 for other /api/v1 paths and for tenant APIs on a register host', async () => {
    const unknown = await call(sim, '/api/v1/apps', { host, token })
    assert.equal(unknown.status, 404)
    assert.equal(envelope(unknown).code, 'HTTP-404')
    assert.equal((await call(sim, '/api/v1/users', { host, token, method: 'DELETE' })).status, 404)
    const onRegister = await call(sim, '/api/v1/users/me', { host: REGISTER, token: await mint(sim) })
    assert.equal(onRegister.status, 404)
    assert.equal(sim.counters().requests['GET (unmatched)'], 1)
  })
})
