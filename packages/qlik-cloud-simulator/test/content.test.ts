import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { botUserId, call, envelope, mint, startSimulator } from './helpers.js'
import type { CallResult } from './helpers.js'
import type { QlikSimulator, TenantContentState } from '../src/index.js'

// Content with owners and the calls that find and move it
// (docs/reference/qlik-cloud-api.md §7), over real HTTP.

await describe('simulator owned content (reference §7)', async () => {
  let sim: QlikSimulator
  let host: string
  let tenantId: string
  let token: string
  /** The caller's own bot user (the new client's). */
  let botId: string
  /** A deleted client's bot user, seeded through the control API. */
  let oldBotId: string

  before(async () => { sim = await startSimulator() })
  after(() => sim.close())
  beforeEach(async () => {
    sim.reset({ state: true })
    const tenant = sim.addTenant({ region: 'eu' })
    host = tenant.hostnames[0] as string
    tenantId = tenant.id
    token = await mint(sim, host)
    botId = await botUserId(sim, host, token)
    const old = await call(sim, `/__sim/tenants/${tenantId}/users`, { body: { clientId: 'deleted-client', name: 'Old EU client' } })
    assert.equal(old.status, 201, JSON.stringify(old.body))
    assert.equal(old.body.subject, 'qlikbot\\deleted-client')
    oldBotId = old.body.id
  })

  const api = (path: string, options: { method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', body?: unknown } = {}): Promise<CallResult> =>
    call(sim, path, { host, token, ...options })
  const seed = (body: Record<string, unknown>): Promise<CallResult> => call(sim, `/__sim/tenants/${tenantId}/content`, { body })
  const state = async (): Promise<TenantContentState> => (await call(sim, `/__sim/tenants/${tenantId}/content`)).body
  const owners = (items: Array<{ ownerId: string }>): string[] => [...new Set(items.map((i) => i.ownerId))]

  await it('seeds content owned by a user and reads owners back, through HTTP and in process', async () => {
    const seeded = await seed({ ownerId: oldBotId, apps: 2, appObjectsPerApp: 3, spaces: 1, dataFiles: 2, automations: 2, automationConnections: 1 })
    assert.equal(seeded.status, 201)
    assert.deepEqual(Object.fromEntries(Object.entries(seeded.body).map(([k, v]) => [k, (v as string[]).length])),
      { apps: 2, appObjects: 6, spaces: 1, dataFiles: 2, automations: 2, automationConnections: 1 })
    const content = await state()
    assert.deepEqual(content, sim.content(tenantId))
    for (const [kind, items] of Object.entries(content)) {
      assert.deepEqual(owners(items), [oldBotId], kind)
      for (const item of items) assert.equal(item.ownerChanges, 0)
    }
    assert.deepEqual(content.automations.map((a) => a.connectionIds), [seeded.body.automationConnections, seeded.body.automationConnections])
    assert.deepEqual(new Set(content.appObjects.map((o) => o.appId)), new Set(seeded.body.apps))

    const direct = sim.seedContent(tenantId, { ownerId: botId, dataFiles: 1 })
    assert.equal(direct.dataFiles.length, 1)
    assert.equal(sim.content(tenantId).dataFiles.length, 3)
    assert.equal(sim.addUser(tenantId, { subject: 'idp|ada' }).subject, 'idp|ada')
  })

  await it('refuses bad seeding with a 400 or 404 that names the problem, and seeds nothing', async () => {
    const cases: Array<[string, unknown, number, RegExp]> = [
      ['content', { ownerId: 'nobody', apps: 1 }, 400, /no user with id nobody/],
      ['content', { apps: 1 }, 400, /ownerId/],
      ['content', { ownerId: oldBotId, apps: -1 }, 400, /apps/],
      ['content', { ownerId: oldBotId, apps: 1001 }, 400, /apps/],
      ['content', { ownerId: oldBotId, apps: 1.5 }, 400, /apps/],
      ['content', { ownerId: oldBotId, widgets: 1 }, 400, /widgets/],
      ['users', {}, 400, /subject or a clientId/],
      ['users', { clientId: 'deleted-client' }, 400, /exists|already/],
      ['users', { subject: 'x', role: 'admin' }, 400, /role/]
    ]
    for (const [what, body, status, detail] of cases) {
      const res = await call(sim, `/__sim/tenants/${tenantId}/${what}`, { body })
      assert.equal(res.status, status, JSON.stringify(body))
      assert.match(envelope(res).detail ?? '', detail, JSON.stringify(body))
    }
    const unknown = await call(sim, '/__sim/tenants/nope/content', { body: { ownerId: oldBotId, apps: 1 } })
    assert.equal(unknown.status, 404)
    assert.equal(envelope(unknown).code, 'TENANTS-8')
    assert.equal((await call(sim, '/__sim/tenants/nope/content')).status, 404)
    for (const items of Object.values(await state())) assert.deepEqual(items, [])
    assert.throws(() => sim.seedContent(tenantId, { ownerId: oldBotId, spaces: -2 }), RangeError)
  })

  await it('finds content by owner: items and spaces with next/prev, data files with page', async () => {
    const old = (await seed({ ownerId: oldBotId, apps: 3, spaces: 3, dataFiles: 3 })).body
    await seed({ ownerId: botId, apps: 1, spaces: 1, dataFiles: 1 })

    async function all (path: string, cursorParam: RegExp): Promise<Array<{ id: string, ownerId: string, resourceId?: string }>> {
      const found = []
      let next: string | undefined = path
      let pages = 0
      while (next !== undefined) {
        const res = await api(next)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        found.push(...res.body.data)
        pages++
        const href: string | undefined = res.body.links.next?.href
        if (href !== undefined) {
          assert.match(href, cursorParam)
          const url = new URL(href)
          assert.equal(url.host, host)
          next = `${url.pathname}${url.search}`
        } else {
          next = undefined
        }
      }
      assert.equal(pages, 2, `${path}: 3 items at limit 2 make two pages`)
      return found
    }
    const items = await all(`/api/v1/items?ownerId=${oldBotId}&limit=2`, /[?&]next=/)
    assert.deepEqual(items.map((i) => i.resourceId), old.apps)
    assert.deepEqual(owners(items), [oldBotId])
    const spaces = await all(`/api/v1/spaces?ownerId=${oldBotId}&limit=2`, /[?&]next=/)
    assert.deepEqual(spaces.map((s) => s.id), old.spaces)
    const files = await all(`/api/v1/data-files?ownerId=${oldBotId}&limit=2`, /[?&]page=/)
    assert.deepEqual(files.map((f) => f.id), old.dataFiles)

    const pathOf = (href: string): string => `${new URL(href).pathname}${new URL(href).search}`
    const firstFiles = await api(`/api/v1/data-files?ownerId=${oldBotId}&limit=2`)
    const secondFiles = await api(pathOf(firstFiles.body.links.next.href))
    assert.match(secondFiles.body.links.prev.href, /[?&]page=/)
    const backFiles = await api(pathOf(secondFiles.body.links.prev.href))
    assert.deepEqual(backFiles.body.data.map((f: { id: string }) => f.id), old.dataFiles.slice(0, 2), 'prev of page two is page one')
    assert.equal((await api('/api/v1/items?limit=500')).status, 400)
    assert.equal((await api('/api/v1/data-files?page=not-a-cursor')).status, 400)
  })

  await it('finds automations and connections with filter=ownerId eq and listAll=true, paged by cursor', async () => {
    const old = (await seed({ ownerId: oldBotId, automations: 3, automationConnections: 2 })).body
    const mine = (await seed({ ownerId: botId, automations: 1 })).body
    const ids = (res: CallResult): string[] => res.body.data.map((a: { id: string }) => a.id)
    const byOld = encodeURIComponent(`ownerId eq "${oldBotId}"`)

    // Without listAll a caller sees only its own, even when it asks for another owner's.
    assert.deepEqual(ids(await api('/api/v1/automations')), mine.automations)
    assert.deepEqual(ids(await api(`/api/v1/automations?filter=${byOld}`)), [])
    const page1 = await api(`/api/v1/automations?filter=${byOld}&listAll=true&limit=2`)
    assert.deepEqual(ids(page1), old.automations.slice(0, 2))
    const next = new URL(page1.body.links.next.href)
    assert.match(next.search, /[?&]cursor=/)
    assert.match(next.search, /listAll=true/)
    const page2 = await api(`${next.pathname}${next.search}`)
    assert.deepEqual(ids(page2), old.automations.slice(2))
    assert.equal(page2.body.links.next, undefined)
    assert.deepEqual(ids(await api(`/api/v1/automation-connections?filter=${byOld}&listAll=true`)), old.automationConnections)
    assert.deepEqual(ids(await api(`/api/v1/automation-connections?filter=${encodeURIComponent(`OWNERID EQ "${oldBotId.toUpperCase()}"`)}&listAll=true`)), old.automationConnections, 'case-insensitive like the users filter')

    assert.equal((await api('/api/v1/automations?listAll=yes')).status, 400)
    const bad = await api(`/api/v1/automations?filter=${encodeURIComponent('owner eq "x"')}&listAll=true`)
    assert.equal(bad.status, 400)
    assert.match(envelope(bad).detail ?? '', /Invalid filter/)
  })

  await it('moves an app with PUT /apps/{id}/owner, counting each change, and refuses a bad body changing nothing', async () => {
    const [appId] = (await seed({ ownerId: oldBotId, apps: 1 })).body.apps
    for (const [body, detail] of [[{}, /ownerId/], [{ ownerId: '' }, /ownerId/], [{ ownerId: 'nobody' }, /no user with id nobody/], ['{"ownerId":', /Malformed JSON/]] as const) {
      const res = await api(`/api/v1/apps/${appId}/owner`, { method: 'PUT', body })
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.match(envelope(res).detail ?? '', detail)
    }
    assert.deepEqual((await state()).apps.map((a) => [a.ownerId, a.ownerChanges]), [[oldBotId, 0]])

    const moved = await api(`/api/v1/apps/${appId}/owner`, { method: 'PUT', body: { ownerId: botId } })
    assert.equal(moved.status, 200)
    assert.equal(moved.body.attributes.id, appId)
    assert.equal(moved.body.attributes.ownerId, botId)
    assert.equal((await api(`/api/v1/apps/${appId}`)).body.attributes.ownerId, botId)
    assert.deepEqual((await api(`/api/v1/items?ownerId=${botId}`)).body.data.map((i: { resourceId: string }) => i.resourceId), [appId], 'the item follows its app')
    assert.deepEqual((await state()).apps.map((a) => [a.ownerId, a.ownerChanges]), [[botId, 1]])
    assert.equal((await api(`/api/v1/apps/${appId}/owner`, { method: 'PUT', body: { ownerId: botId } })).status, 200)
    assert.equal((await state()).apps[0]?.ownerChanges, 2, 'a second call is counted: a migration can be caught moving twice')
    const unknown = await api('/api/v1/apps/nope/owner', { method: 'PUT', body: { ownerId: botId } })
    assert.equal(unknown.status, 404)
    assert.equal(envelope(unknown).code, 'HTTP-404')
  })

  await it('lets only an app object\'s current owner change its owner', async () => {
    const theirs = (await seed({ ownerId: oldBotId, apps: 1, appObjectsPerApp: 1 })).body
    const mine = sim.seedContent(tenantId, { ownerId: botId, apps: 1, appObjectsPerApp: 1 })
    const path = (appId: string, objectId: string): string => `/api/v1/apps/${appId}/objects/${objectId}/actions/change-owner`

    const refused = await api(path(theirs.apps[0], theirs.appObjects[0]), { body: { ownerId: botId } })
    assert.equal(refused.status, 403)
    assert.equal(envelope(refused).code, 'HTTP-403')
    assert.match(envelope(refused).detail ?? '', /owner/)
    const target = sim.addUser(tenantId, { subject: 'idp|ada' })
    const moved = await api(path(mine.apps[0] as string, mine.appObjects[0] as string), { body: { ownerId: target.id } })
    assert.equal(moved.status, 200)
    assert.equal(moved.body.attributes.ownerId, target.id)
    assert.equal(moved.body.attributes.appId, mine.apps[0])
    const objects = (await state()).appObjects
    assert.deepEqual(objects.map((o) => [o.id, o.ownerId, o.ownerChanges]), [[theirs.appObjects[0], oldBotId, 0], [mine.appObjects[0], target.id, 1]])
    assert.equal((await api(path(mine.apps[0] as string, theirs.appObjects[0]), { body: { ownerId: botId } })).status, 404, 'object of another app')
  })

  await it('moves a space with a JSON patch of /ownerId (or PUT), validating every operation first', async () => {
    const [spaceId] = (await seed({ ownerId: oldBotId, spaces: 1 })).body.spaces
    const path = `/api/v1/spaces/${spaceId}`
    const badPatches: unknown[] = [
      [],
      {},
      [{ op: 'add', path: '/ownerId', value: botId }],
      [{ op: 'replace', path: '/type', value: 'managed' }],
      [{ op: 'replace', path: '/name', value: 'Renamed' }, { op: 'replace', path: '/ownerId', value: 'nobody' }]
    ]
    for (const body of badPatches) {
      const res = await api(path, { method: 'PATCH', body })
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.equal(envelope(res).status, '400')
    }
    const unchanged = (await api(path)).body
    assert.equal(unchanged.ownerId, oldBotId)
    assert.notEqual(unchanged.name, 'Renamed', 'a bad operation anywhere leaves the space untouched')

    const patched = await api(path, { method: 'PATCH', body: [{ op: 'replace', path: '/ownerId', value: botId }] })
    assert.equal(patched.status, 200)
    assert.equal(patched.body.ownerId, botId)
    assert.deepEqual((await api(`/api/v1/spaces?ownerId=${oldBotId}`)).body.data, [])
    const put = await api(path, { method: 'PUT', body: { name: 'Finance', ownerId: oldBotId } })
    assert.equal(put.status, 200)
    assert.deepEqual([put.body.name, put.body.ownerId], ['Finance', oldBotId])
    assert.equal((await state()).spaces[0]?.ownerChanges, 2)
    assert.equal((await api(path, { method: 'PUT', body: { ownerId: botId } })).status, 400, 'PUT needs a name')
  })

  await it('moves data files, automations and connections with change-owner (204); an automation leaves behind connections its new owner does not own', async () => {
    const old = (await seed({ ownerId: oldBotId, dataFiles: 1, automations: 2, automationConnections: 1 })).body
    const [fileId] = old.dataFiles
    const [automationA, automationB] = old.automations
    const [connectionId] = old.automationConnections

    assert.equal((await api(`/api/v1/data-files/${fileId}/actions/change-owner`, { body: { userId: botId } })).status, 400, 'data files take ownerId')
    const file = await api(`/api/v1/data-files/${fileId}/actions/change-owner`, { body: { ownerId: botId } })
    assert.equal(file.status, 204)
    assert.equal(file.body, undefined)
    assert.equal((await api(`/api/v1/data-files/${fileId}`)).body.ownerId, botId)

    assert.equal((await api(`/api/v1/automations/${automationA}/actions/change-owner`, { body: { ownerId: botId } })).status, 400, 'automations take userId')
    assert.equal((await api(`/api/v1/automations/${automationA}/actions/change-owner`, { body: { userId: botId } })).status, 204)
    let content = await state()
    assert.deepEqual(content.automations.map((a) => [a.id, a.ownerId, a.connectionIds]), [[automationA, botId, []], [automationB, oldBotId, [connectionId]]])

    // Connections first, then the automation: it keeps its connection.
    assert.equal((await api(`/api/v1/automation-connections/${connectionId}/actions/change-owner`, { body: { userId: botId } })).status, 204)
    assert.equal((await api(`/api/v1/automations/${automationB}/actions/change-owner`, { body: { userId: botId } })).status, 204)
    content = await state()
    assert.deepEqual(content.automations.map((a) => [a.ownerId, a.connectionIds]), [[botId, []], [botId, [connectionId]]])
    for (const kind of ['dataFiles', 'automations', 'automationConnections'] as const) {
      assert.deepEqual(content[kind].map((i) => i.ownerChanges), content[kind].map(() => 1), kind)
    }
    assert.equal((await api('/api/v1/automations/nope/actions/change-owner', { body: { userId: botId } })).status, 404)
  })

  await it('deletes apps (200, with their objects and item), spaces, data files, automations and connections (204)', async () => {
    const s = (await seed({ ownerId: oldBotId, apps: 1, appObjectsPerApp: 2, spaces: 1, dataFiles: 1, automations: 1, automationConnections: 1 })).body
    const deletes: Array<[string, number]> = [
      [`/api/v1/apps/${s.apps[0]}`, 200],
      [`/api/v1/spaces/${s.spaces[0]}`, 204],
      [`/api/v1/data-files/${s.dataFiles[0]}`, 204],
      [`/api/v1/automation-connections/${s.automationConnections[0]}`, 204]
    ]
    for (const [path, status] of deletes) {
      assert.equal((await api(path, { method: 'DELETE' })).status, status, path)
      assert.equal((await api(path, { method: 'DELETE' })).status, 404, `${path} again`)
    }
    let content = await state()
    assert.deepEqual(content.automations.map((a) => a.connectionIds), [[]], 'a deleted connection is detached')
    assert.equal((await api(`/api/v1/automations/${s.automations[0]}`, { method: 'DELETE' })).status, 204)
    content = await state()
    for (const [kind, items] of Object.entries(content)) assert.deepEqual(items, [], kind)
    assert.deepEqual((await api('/api/v1/items')).body.data, [])
  })

  await it('serves content calls on tenant hosts only, with the token of that tenant', async () => {
    const { apps } = (await seed({ ownerId: oldBotId, apps: 1 })).body
    const onRegister = await call(sim, `/api/v1/apps/${apps[0]}`, { token: await mint(sim) })
    assert.equal(onRegister.status, 404)
    const other = sim.addTenant({ region: 'eu' }).hostnames[0] as string
    const foreign = await call(sim, `/api/v1/apps/${apps[0]}`, { host: other, token: await mint(sim, other) })
    assert.equal(foreign.status, 404, 'another tenant does not see this app')
    assert.equal((await call(sim, `/api/v1/apps/${apps[0]}`, { host })).status, 401)
  })
})
