import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { bearer, http, type HttpResult } from '../support/http.js'
import { assertNoLeak, redisDump } from '../support/leaks.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { sensitiveValues } from '../support/stack.js'
import { assertProblem, startGovernanceStack, type GovernanceStack } from './support.js'

interface Registered { id: string, name: string, hostnames: string[], region: string, status: string, createdBy: string, createdAt: string, updatedAt: string }
interface Listing { data: Registered[], nextCursor?: string, links: { next?: { href: string } } }

async function create (stack: GovernanceStack, key: string, license: string): Promise<{ id: string, hostnames: string[] }> {
  const result = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: bearer(key), body: { licenseKey: license } })
  assert.equal(result.status, 201, result.text)
  return result.json<{ id: string, hostnames: string[] }>()
}

const list = async (stack: GovernanceStack, key: string, query = ''): Promise<HttpResult> => http(stack.url, 'GET', `/regions/eu/tenants${query}`, { headers: bearer(key) })

await describe('tenant registry', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('records created tenants, keeps their status and names current, paginates, filters by status and by policy', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const admin = stack.keys.admin
    const own = stack.keys.selfservice
    const first = await create(stack, admin, 'lk-1')
    const second = await create(stack, admin, 'lk-2')
    const third = await create(stack, own, 'lk-3')
    const deactivated = await http(stack.url, 'POST', `/regions/eu/api/v1/tenants/${first.id}/actions/deactivate`, { headers: { ...bearer(admin), 'qlik-confirm-hostname': first.hostnames[0] ?? '' }, body: {} })
    assert.equal(deactivated.status, 200, deactivated.text)

    // limit 2, then the cursor, then nothing more.
    const page1 = await list(stack, admin, '?limit=2')
    assert.equal(page1.status, 200, page1.text)
    const one = page1.json<Listing>()
    assert.deepEqual(one.data.map((tenant) => tenant.id), [first.id, second.id], 'creation order')
    assert.ok(one.nextCursor !== undefined)
    assert.equal(one.links.next?.href, `/regions/eu/tenants?limit=2&cursor=${one.nextCursor}`)
    const two = (await http(stack.url, 'GET', one.links.next?.href ?? '', { headers: bearer(admin) })).json<Listing>()
    assert.deepEqual(two.data.map((tenant) => tenant.id), [third.id])
    assert.equal(two.nextCursor, undefined, 'the last page has no cursor')

    const all = (await list(stack, admin)).json<Listing>().data
    const byId = new Map(all.map((tenant) => [tenant.id, tenant]))
    assert.equal(byId.get(first.id)?.status, 'disabled', 'status from Qlik\'s 200 to deactivate')
    assert.equal(byId.get(second.id)?.status, 'active')
    assert.equal(byId.get(third.id)?.createdBy, 'selfservice')
    assert.equal(byId.get(first.id)?.createdBy, 'admin')
    assert.deepEqual(byId.get(second.id)?.hostnames, second.hostnames)
    assert.equal(byId.get(second.id)?.region, 'eu')

    assert.deepEqual((await list(stack, admin, '?status=disabled')).json<Listing>().data.map((tenant) => tenant.id), [first.id])
    assert.deepEqual((await list(stack, admin, '?status=active')).json<Listing>().data.map((tenant) => tenant.id), [second.id, third.id])
    // A filtered page that fills up mid-way still hands a cursor to the rest.
    const activeOne = (await list(stack, admin, '?status=active&limit=1')).json<Listing>()
    assert.deepEqual(activeOne.data.map((tenant) => tenant.id), [second.id])
    const activeRest = (await list(stack, admin, `?status=active&limit=1&cursor=${activeOne.nextCursor ?? ''}`)).json<Listing>()
    assert.deepEqual(activeRest.data.map((tenant) => tenant.id), [third.id])

    // `tenants: created`: only its own; the reader (all eu tenants) sees all three; the creator (no tenants:read) is refused.
    assert.deepEqual((await list(stack, own)).json<Listing>().data.map((tenant) => tenant.id), [third.id])
    assert.deepEqual((await list(stack, stack.keys.reader)).json<Listing>().data.map((tenant) => tenant.id), [first.id, second.id, third.id])
    assertProblem(await list(stack, stack.keys.creator), 403, 'QB_FORBIDDEN')
    assertProblem(await list(stack, admin, '?cursor=bm90LWEtY3Vyc29y'), 400, 'QB_INVALID_REQUEST')
    assertProblem(await http(stack.url, 'GET', '/regions/us/tenants', { headers: bearer(own) }), 403, 'QB_FORBIDDEN')

    // PATCH (204) renames and adds an alias; reactivation flips the status back.
    const alias = `acme-${Date.now()}.eu.qlikcloud.com`
    const patched = await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${second.id}`, { headers: bearer(admin), body: [{ op: 'replace', path: '/name', value: 'acme-prod' }, { op: 'replace', path: '/hostnames/1', value: alias }] })
    assert.equal(patched.status, 204, patched.text)
    await http(stack.url, 'POST', `/regions/eu/api/v1/tenants/${first.id}/actions/reactivate`, { headers: { ...bearer(admin), 'qlik-confirm-hostname': first.hostnames[0] ?? '' } })
    const after = new Map((await list(stack, admin)).json<Listing>().data.map((tenant) => [tenant.id, tenant]))
    assert.equal(after.get(second.id)?.name, 'acme-prod')
    assert.deepEqual(after.get(second.id)?.hostnames, [second.hostnames[0], alias])
    assert.ok((after.get(second.id)?.updatedAt ?? '') > (after.get(second.id)?.createdAt ?? ''), 'updated time moves')
    assert.equal(after.get(first.id)?.status, 'active')

    const client = redis.client()
    const keys = await client.keys('*registry:{eu}*')
    assert.ok(keys.some((key) => key.endsWith(`registry:{eu}:tenant:${second.id}`)), 'a hash per tenant')
    assert.ok(keys.some((key) => key.endsWith('registry:{eu}:order')), 'a sorted set per region')
    assert.equal(await client.zcard(keys.find((key) => key.endsWith(':order')) ?? ''), 3)
    assertNoLeak({ redis: await redisDump(client), logs: stack.logs.text() }, sensitiveValues(stack))
  })

  await it('lets a `created` grant read and deactivate its own tenant and refuses another\'s with 403, sending nothing upstream', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const own = stack.keys.selfservice
    const mine = await create(stack, own, 'lk-mine')
    const theirs = await create(stack, stack.keys.admin, 'lk-theirs')
    const foreign = stack.simulator.addTenant({ region: 'eu' })

    assert.equal((await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${mine.id}`, { headers: bearer(own) })).status, 200)
    const users = await http(stack.url, 'GET', `/regions/eu/tenants/${mine.hostnames[0] ?? ''}/api/v1/users`, { headers: bearer(own) })
    assert.equal(users.status, 200, 'its tenant-api grant follows the same scope, by hostname too')

    const counters = JSON.stringify(stack.simulator.counters())
    const refusals: Array<[string, string, Record<string, string>?]> = [
      ['GET', `/regions/eu/api/v1/tenants/${theirs.id}`],
      ['POST', `/regions/eu/api/v1/tenants/${theirs.id}/actions/deactivate`, { 'qlik-confirm-hostname': theirs.hostnames[0] ?? '' }],
      ['PATCH', `/regions/eu/api/v1/tenants/${theirs.id}`],
      ['GET', `/regions/eu/api/v1/tenants/${foreign.id}`],
      ['GET', `/regions/eu/tenants/${theirs.hostnames[0] ?? ''}/api/v1/users`],
      ['GET', `/regions/eu/tenants/${theirs.id}/api/v1/users`]
    ]
    for (const [method, path, headers] of refusals) {
      const body = method === 'PATCH' ? [{ op: 'replace', path: '/name', value: 'stolen' }] : method === 'POST' ? {} : undefined
      assertProblem(await http(stack.url, method, path, { headers: { ...bearer(own), ...headers }, body }), 403, 'QB_FORBIDDEN')
    }
    assert.equal(JSON.stringify(stack.simulator.counters()), counters, 'nothing reached Qlik for the refusals')
    assert.equal(stack.simulator.getTenant(theirs.id)?.status, 'active')
    assert.notEqual(stack.simulator.getTenant(theirs.id)?.name, 'stolen')

    const deactivated = await http(stack.url, 'POST', `/regions/eu/api/v1/tenants/${mine.id}/actions/deactivate`, { headers: { ...bearer(own), 'qlik-confirm-hostname': mine.hostnames[0] ?? '' }, body: { purgeAfterDays: 10 } })
    assert.equal(deactivated.status, 200, deactivated.text)
    assert.equal(stack.simulator.getTenant(mine.id)?.status, 'disabled')
    const listed = (await list(stack, own)).json<Listing>().data
    assert.deepEqual(listed.map((tenant) => [tenant.id, tenant.status]), [[mine.id, 'disabled']])
  })

  await it('answers 503 rather than guessing when a `created` caller acts and the registry cannot be read, and still serves all-tenant callers', async (t) => {
    const redisOfItsOwn = await startRedisServer()
    t.after(async () => { await redisOfItsOwn.close() })
    const stack = await startGovernanceStack(t, { redis: redisOfItsOwn })
    const mine = await create(stack, stack.keys.selfservice, 'lk-mine')
    await redisOfItsOwn.stop()
    assertProblem(await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${mine.id}`, { headers: bearer(stack.keys.selfservice) }), 503, 'QB_REGISTRY_UNAVAILABLE')
    assertProblem(await list(stack, stack.keys.admin), 503, 'QB_REGISTRY_UNAVAILABLE')
    // Without the registry the broker cannot place the id: the caller names the host.
    const read = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${mine.id}`, { headers: { ...bearer(stack.keys.admin), 'qlik-tenant-hostname': mine.hostnames[0] ?? '' } })
    assert.equal(read.status, 200, 'an all-tenants grant needs no registry')
  })
})
