import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { CLIENT_ID, REGISTER, botUserId, call, envelope, mint, startSimulator } from './helpers.js'
import type { QlikSimulator } from '../src/index.js'

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
    assert.deepEqual(me.assignedRoles.map((r: { name: string, level: string }) => [r.name, r.level]), [['TenantAdmin', 'admin']])
    assert.equal(me.status, 'active')
    assert.match(me.id, /^[0-9a-f]{24}$/)
    // Today's fields (reference §11), not the deprecated ones.
    assert.ok(!Number.isNaN(Date.parse(me.createdAt)))
    assert.equal(me.lastUpdatedAt, me.createdAt)
    assert.deepEqual(me.links, { self: { href: `https://${host}/api/v1/users/${me.id}` } })
    for (const gone of ['roles', 'created', 'lastUpdated']) assert.equal(me[gone], undefined, gone)
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

  await it('creates a user from a subject alone, with today\'s fields (reference §11)', async () => {
    const created = await call(sim, '/api/v1/users', { host, token, body: { subject: 'idp|ada' } })
    assert.equal(created.status, 201)
    const u = created.body
    assert.equal(u.subject, 'idp|ada')
    assert.equal(u.tenantId, tenantId)
    assert.equal(u.status, 'active')
    assert.deepEqual(u.assignedRoles, [])
    assert.ok(!Number.isNaN(Date.parse(u.createdAt)))
    assert.equal(u.lastUpdatedAt, u.createdAt)
    assert.deepEqual(u.links, { self: { href: `https://${host}/api/v1/users/${u.id}` } })
    assert.equal(u.name, undefined)
    assert.equal(u.email, undefined)

    const full = await call(sim, '/api/v1/users', {
      host, token, body: { subject: 'idp|bo', name: 'Bo', email: 'bo@example.com', status: 'invited', assignedRoles: [{ name: 'AnalyticsAdmin' }] }
    })
    assert.equal(full.status, 201)
    assert.equal(full.body.status, 'invited')
    const [role] = full.body.assignedRoles
    assert.deepEqual({ name: role.name, type: role.type, level: role.level }, { name: 'AnalyticsAdmin', type: 'default', level: 'admin' })
    const byId = await call(sim, '/api/v1/users', { host, token, body: { subject: 'idp|cy', assignedRoles: [{ id: role.id }] } })
    assert.equal(byId.body.assignedRoles[0].name, 'AnalyticsAdmin')
  })

  await it('refuses bad user bodies with a 400 that names the problem, and duplicate subjects with 409, creating nothing', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'No subject', email: 'x@example.com' }, /subject/],
      [{ subject: '  ' }, /subject/],
      [{ subject: 'idp|x', email: 'not-an-email' }, /email/],
      [{ subject: 'idp|x', assignedRoles: [{ name: 'Wizard' }] }, /no role named Wizard/],
      [{ subject: 'idp|x', tenantId: 'another-tenant' }, /tenantId/],
      ['{"subject":', /Malformed JSON/]
    ]
    for (const [body, detail] of cases) {
      const res = await call(sim, '/api/v1/users', { host, token, body })
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.match(envelope(res).detail ?? '', detail)
    }
    assert.equal((await call(sim, '/api/v1/users', { host, token, body: { subject: 'idp|dup' } })).status, 201)
    const dup = await call(sim, '/api/v1/users', { host, token, body: { subject: 'idp|dup', name: 'Again' } })
    assert.equal(dup.status, 409)
    assert.equal(envelope(dup).status, '409')
    const people = await call(sim, `/api/v1/users?filter=${encodeURIComponent('not (clientId pr)')}`, { host, token })
    assert.deepEqual(people.body.data.map((u: { subject: string }) => u.subject), ['idp|dup'], 'only the one good user besides the bot')
  })

  await it('filters users SCIM-like and case-insensitively (reference §7, §11)', async () => {
    const botId = await botUserId(sim, host, token)
    for (const [subject, name, email] of [['idp|ada', 'Ada Lovelace', 'ada@example.com'], ['idp|alan', 'Alan Turing', 'alan@example.com'], ['idp|grace', 'Grace Hopper', 'grace@navy.example']]) {
      assert.equal((await call(sim, '/api/v1/users', { host, token, body: { subject, name, email } })).status, 201)
    }
    const subjects = async (filter: string): Promise<string[]> => {
      const res = await call(sim, `/api/v1/users?filter=${encodeURIComponent(filter)}`, { host, token })
      assert.equal(res.status, 200, `${filter}: ${JSON.stringify(res.body)}`)
      return res.body.data.map((u: { subject: string }) => u.subject)
    }
    assert.deepEqual(await subjects(`clientId eq "${CLIENT_ID}"`), [`qlikbot\\${CLIENT_ID}`])
    // The escaped backslash form of reference §7, in any letter case.
    assert.deepEqual(await subjects(`subject eq "QLIKBOT\\\\${CLIENT_ID.toUpperCase()}"`), [`qlikbot\\${CLIENT_ID}`])
    assert.deepEqual(await subjects(`ID EQ "${botId}"`), [`qlikbot\\${CLIENT_ID}`])
    assert.deepEqual(await subjects('name sw "al"'), ['idp|alan'])
    assert.deepEqual(await subjects('email ew "@EXAMPLE.COM" and not (name co "turing")'), ['idp|ada'])
    assert.deepEqual(await subjects('name eq "grace hopper" or (email co "ada" and status eq "active")'), ['idp|ada', 'idp|grace'])
    assert.deepEqual(await subjects('subject ne "idp|ada" and email pr'), ['idp|alan', 'idp|grace'])

    const deep = `${'('.repeat(2000)}name eq "a"${')'.repeat(2000)}`
    for (const bad of ['foo', 'roles eq "TenantAdmin"', 'name eq', 'name like "a"', 'name eq "unterminated', '(name eq "a"', 'name eq "a" extra', deep, `name eq "${'a'.repeat(5000)}"`]) {
      const res = await call(sim, `/api/v1/users?filter=${encodeURIComponent(bad)}`, { host, token })
      assert.equal(res.status, 400, bad.slice(0, 40))
      assert.match(envelope(res).detail ?? '', /^Invalid filter: /, bad.slice(0, 40))
    }
  })

  await it('pages users with next and prev cursors that survive changes elsewhere in the list', async () => {
    const subjects: string[] = []
    for (let i = 0; i < 5; i++) {
      subjects.push(`idp|u${i}`)
      assert.equal((await call(sim, '/api/v1/users', { host, token, body: { subject: `idp|u${i}` } })).status, 201)
    }
    const follow = async (href: string): Promise<{ body: any }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const url = new URL(href)
      assert.equal(url.host, host)
      const res = await call(sim, `${url.pathname}${url.search}`, { host, token })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      return res
    }
    const names = (res: { body: { data: Array<{ subject: string }> } }): string[] => res.body.data.map((u) => u.subject)

    const page1 = await call(sim, '/api/v1/users?limit=2&filter=subject%20sw%20%22idp%7Cu%22', { host, token })
    assert.deepEqual(names(page1), subjects.slice(0, 2))
    assert.equal(page1.body.links.prev, undefined)
    const page2 = await follow(page1.body.links.next.href)
    assert.deepEqual(names(page2), subjects.slice(2, 4))
    assert.match(page2.body.links.next.href, /[?&]filter=/, 'the filter is kept in the links')
    // A user created before the cursor does not shift the next page.
    assert.equal((await call(sim, '/api/v1/users', { host, token, body: { subject: 'other' } })).status, 201)
    const page3 = await follow(page2.body.links.next.href)
    assert.deepEqual(names(page3), subjects.slice(4))
    assert.equal(page3.body.links.next, undefined)
    const back = await follow(page3.body.links.prev.href)
    assert.deepEqual(names(back), subjects.slice(2, 4))
    const first = await follow(back.body.links.prev.href)
    assert.deepEqual(names(first), subjects.slice(0, 2))
    assert.equal(first.body.links.prev, undefined)

    for (const bad of ['limit=0', 'limit=101', 'limit=x', 'next=garbage', `next=${page2.body.links.prev.href.split('prev=')[1]}`, 'next=a&prev=b']) {
      const res = await call(sim, `/api/v1/users?${bad}`, { host, token })
      assert.equal(res.status, 400, bad)
      assert.equal(envelope(res).code, 'HTTP-400')
    }
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
