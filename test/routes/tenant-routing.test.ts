import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createApiKey } from '../../src/auth/api-keys.js'
import { DEMO_CLIENTS } from '@qlik-broker/qlik-cloud-simulator'
import { assertProblem } from '../governance/support.js'
import { bearer, http, type HttpResult } from '../support/http.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { startStack, type Stack, type StackOptions } from '../support/stack.js'

const ALL_ACTIONS = ['tenants:create', 'tenants:read', 'tenants:update', 'tenants:deactivate', 'tenants:reactivate']
const GRANTS = {
  admin: [{ regions: '*', actions: [...ALL_ACTIONS, 'audit:read'], tenantApi: ['* /api/v1/**'] }],
  /** Self-service callers: everything, on the tenants they created only. */
  creator1: [{ regions: ['eu'], actions: ALL_ACTIONS, tenants: 'created', tenantApi: ['* /api/v1/**'] }],
  creator2: [{ regions: ['eu'], actions: ALL_ACTIONS, tenants: 'created', tenantApi: ['* /api/v1/**'] }],
  /** Every tenant-level API, but no lifecycle action (issue 10 §2). */
  'api-only': [{ regions: ['eu'], actions: [], tenantApi: ['* /api/v1/**'] }],
  /** Reads tenants, nothing else. */
  'tenant-reader': [{ regions: ['eu'], actions: ['tenants:read'], tenantApi: [] }],
  /** Audits one tenant, named by its alias hostname (issue 10 §7). */
  'acme-auditor': [{ regions: ['eu'], actions: ['audit:read'], tenants: ['acme.eu.qlikcloud.com'] }]
} as const
type Name = keyof typeof GRANTS

interface RoutingStack extends Stack { key: Record<Name, Record<string, string>> }

/** The in-process stack with this file's callers. */
async function startRoutingStack (t: Parameters<typeof startStack>[0], options: Omit<StackOptions, 'callers'> = {}): Promise<RoutingStack> {
  const keys = Object.fromEntries(Object.keys(GRANTS).map((name) => [name, createApiKey()])) as Record<Name, { key: string, hash: string }>
  const stack = await startStack(t, { ...options, callers: () => Object.entries(GRANTS).map(([name, grants]) => ({ name, apiKeyHashes: [keys[name as Name].hash], grants })) })
  return { ...stack, key: Object.fromEntries(Object.entries(keys).map(([name, { key }]) => [name, bearer(key)])) as Record<Name, Record<string, string>> }
}

interface Tenant { id: string, name: string, hostnames: string[] }

async function create (stack: RoutingStack, caller: Name): Promise<Tenant> {
  const result = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: stack.key[caller], body: { licenseKey: 'lk' } })
  assert.equal(result.status, 201, result.text)
  return result.json<Tenant>()
}

const rename = (value: string): unknown => [{ op: 'replace', path: '/name', value }]
const alias = (value: string): unknown => [{ op: 'replace', path: '/hostnames/1', value }]

await describe('tenant GET/PATCH on the tenant\'s own host (issue 9 §1)', async () => {
  await it('sends GET and PATCH of a tenant the broker created to its own host, never asking the register host', async (t) => {
    const stack = await startRoutingStack(t)
    const tenant = await create(stack, 'admin')
    const host = tenant.hostnames[0] ?? ''
    const read = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: stack.key.admin })
    assert.equal(read.status, 200, read.text)
    assert.equal(read.json<Tenant>().id, tenant.id)
    const patched = await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: stack.key.admin, body: rename('on-its-host') })
    assert.equal(patched.status, 204, patched.text)
    assert.equal(stack.simulator.getTenant(tenant.id)?.name, 'on-its-host')
    const counters = stack.simulator.counters()
    assert.deepEqual(counters.mints, { 'register.eu.qlikcloud.com': 1, [host]: 1 }, 'the register token created it; GET and PATCH used a token of the tenant host')
    assert.equal(counters.foreignHostTokenRequests, 0)
  })

  await it('answers 422 QB_TENANT_HOST_UNKNOWN for an id nothing knows, and serves it when the caller names the host', async (t) => {
    // Default simulator: the register host does not serve GET of a tenant, as Qlik documents.
    const stack = await startRoutingStack(t)
    const stranger = stack.simulator.addTenant({ region: 'eu' })
    const host = stranger.hostnames[0] ?? ''
    const unknown = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${stranger.id}`, { headers: stack.key.admin })
    const problem = assertProblem(unknown, 422, 'QB_TENANT_HOST_UNKNOWN')
    assert.match(problem.detail, /qlik-tenant-hostname/, 'tells the caller how to send the hostname')
    assertProblem(await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${stranger.id}`, { headers: stack.key.admin, body: rename('x') }), 422, 'QB_TENANT_HOST_UNKNOWN')
    assertProblem(await http(stack.url, 'GET', `/regions/eu/tenants/${stranger.id}/api/v1/users`, { headers: stack.key.admin }), 422, 'QB_TENANT_HOST_UNKNOWN')
    assert.notEqual(stack.simulator.getTenant(stranger.id)?.name, 'x')

    const named = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${stranger.id}`, { headers: { ...stack.key.admin, 'qlik-tenant-hostname': host.toUpperCase() } })
    assert.equal(named.status, 200, named.text)
    assert.equal(named.json<Tenant>().id, stranger.id)
    const patched = await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${stranger.id}`, { headers: { ...stack.key.admin, 'qlik-tenant-hostname': host }, body: rename('named') })
    assert.equal(patched.status, 204, patched.text)
    assert.equal(stack.simulator.getTenant(stranger.id)?.name, 'named')
    assert.equal((await http(stack.url, 'GET', `/regions/eu/tenants/${host}/api/v1/users`, { headers: stack.key.admin })).status, 200)
  })

  await it('refuses a qlik-tenant-hostname outside the region or not the registered tenant\'s, before anything is sent', async (t) => {
    const stack = await startRoutingStack(t)
    const mine = await create(stack, 'admin')
    const other = await create(stack, 'admin')
    const before = stack.simulator.counters().tokenRequests
    for (const hostname of ['evil.example.com', 'acme.us.qlikcloud.com', 'register.eu.qlikcloud.com']) {
      assertProblem(await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${mine.id}`, { headers: { ...stack.key.admin, 'qlik-tenant-hostname': hostname } }), 400, 'QB_INVALID_TENANT')
    }
    assertProblem(await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${mine.id}`, { headers: { ...stack.key.admin, 'qlik-tenant-hostname': other.hostnames[0] ?? '' }, body: rename('x') }), 400, 'QB_INVALID_TENANT')
    assert.equal(stack.simulator.counters().tokenRequests, before, 'no token minted for a refused request')
    assert.notEqual(stack.simulator.getTenant(other.id)?.name, 'x')
  })

  await it('refuses a caller the id alone already refuses before asking Qlik where the tenant is', async (t) => {
    const stack = await startRoutingStack(t, { simulator: { guessRegisterServesTenantReads: true } })
    const stranger = stack.simulator.addTenant({ region: 'eu' })
    assertProblem(await http(stack.url, 'GET', `/regions/eu/tenants/${stranger.id}/api/v1/users`, { headers: stack.key.creator1 }), 403, 'QB_FORBIDDEN')
    assertProblem(await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${stranger.id}`, { headers: stack.key.creator1 }), 403, 'QB_FORBIDDEN')
    assert.equal(stack.simulator.counters().tokenRequests, 0, 'no token minted, no lookup made')
  })

  for (const guess of [true, false]) {
    await it(`asks the register host for an unknown id only as the fallback (simulator guessRegisterServesTenantReads=${String(guess)})`, async (t) => {
      const stack = await startRoutingStack(t, { simulator: { guessRegisterServesTenantReads: guess } })
      const stranger = stack.simulator.addTenant({ region: 'eu' })
      const read = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${stranger.id}`, { headers: stack.key.admin })
      if (guess) {
        assert.equal(read.status, 200, read.text)
        assert.equal(read.json<Tenant>().id, stranger.id)
        assert.deepEqual(stack.simulator.counters().mints, { 'register.eu.qlikcloud.com': 1, [stranger.hostnames[0] ?? '']: 1 }, 'looked up on the register host, read on the tenant host')
      } else {
        assertProblem(read, 422, 'QB_TENANT_HOST_UNKNOWN')
      }

      const noFallback = await startRoutingStack(t, { simulator: { guessRegisterServesTenantReads: guess }, env: { QLIK_TENANT_HOST_LOOKUP: 'registry' } })
      const other = noFallback.simulator.addTenant({ region: 'eu' })
      assertProblem(await http(noFallback.url, 'GET', `/regions/eu/api/v1/tenants/${other.id}`, { headers: noFallback.key.admin }), 422, 'QB_TENANT_HOST_UNKNOWN')
      assert.equal(noFallback.simulator.counters().tokenRequests, 0, 'the register host was not asked')
    })

    await it(`QLIK_TENANT_READS_VIA=register still sends GET to the register host (simulator guess ${String(guess)})`, async (t) => {
      const stack = await startRoutingStack(t, { simulator: { guessRegisterServesTenantReads: guess }, env: { QLIK_TENANT_READS_VIA: 'register' } })
      const tenant = await create(stack, 'admin')
      const read = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: stack.key.admin })
      assert.equal(read.status, guess ? 200 : 404, read.text)
      assert.deepEqual(stack.simulator.counters().mints, { 'register.eu.qlikcloud.com': 1 })
    })
  }
})

await describe('redirects through the broker (issue 9 §2)', async () => {
  await it('rewrites Qlik\'s same-host redirects of /users/me and /tenants/me into the broker\'s route, absolute as the caller reached it', async (t) => {
    const stack = await startRoutingStack(t)
    const tenant = await create(stack, 'admin')
    const host = tenant.hostnames[0] ?? ''
    for (const name of [tenant.id, host]) {
      const me = await http(stack.url, 'GET', `/regions/eu/tenants/${name}/api/v1/users/me`, { headers: { ...stack.key.admin, host: 'broker.internal:8443' } })
      assert.equal(me.status, 302, me.text)
      const location = String(me.headers.location)
      assert.match(location, new RegExp(`^http://broker\\.internal:8443/regions/eu/tenants/${name.replace(/\./g, '\\.')}/api/v1/users/[0-9a-f]{24}$`))
      const user = await http(stack.url, 'GET', new URL(location).pathname, { headers: stack.key.admin })
      assert.equal(user.status, 200, user.text)
      assert.equal(user.json<{ subject: string, tenantId: string }>().subject, 'qlikbot\\demo-eu-client')
      assert.equal(user.json<{ tenantId: string }>().tenantId, tenant.id)
    }
    const myTenant = await http(stack.url, 'GET', `/regions/eu/tenants/${host}/api/v1/tenants/me`, { headers: stack.key.admin })
    assert.equal(myTenant.status, 302)
    const location = new URL(String(myTenant.headers.location))
    assert.equal(location.pathname, `/regions/eu/tenants/${host}/api/v1/tenants/${tenant.id}`)
    const followed = await http(stack.url, 'GET', location.pathname, { headers: stack.key.admin })
    assert.equal(followed.json<Tenant>().id, tenant.id)
    assert.equal(location.origin, stack.url, 'the broker, not Qlik')
  })
})

await describe('the registry\'s trust (issue 10)', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  for (const giveAliasVia of ['tenant-level', 'lifecycle'] as const) {
    await it(`a stale alias does not let creator1 reach creator2's tenant (alias given to it via the ${giveAliasVia} route; §1)`, async (t) => {
      const stack = await startRoutingStack(t, { redis })
      const shared = 'shared.eu.qlikcloud.com'
      const a = await create(stack, 'creator1')
      assert.equal((await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${a.id}`, { headers: stack.key.creator1, body: alias(shared) })).status, 204)
      // Moved away through the tenant-level route, which the registry must hear of too.
      const moved = await http(stack.url, 'PATCH', `/regions/eu/tenants/${a.id}/api/v1/tenants/${a.id}`, { headers: stack.key.creator1, body: alias('moved.eu.qlikcloud.com') })
      assert.equal(moved.status, 204, moved.text)
      const b = await create(stack, 'creator2')
      const given = giveAliasVia === 'lifecycle'
        ? await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${b.id}`, { headers: stack.key.creator2, body: alias(shared) })
        : await http(stack.url, 'PATCH', `/regions/eu/tenants/${b.id}/api/v1/tenants/${b.id}`, { headers: stack.key.creator2, body: alias(shared) })
      assert.equal(given.status, 204, given.text)
      assert.deepEqual(stack.simulator.getTenant(b.id)?.hostnames, [b.hostnames[0], shared])

      const users = await http(stack.url, 'GET', `/regions/eu/tenants/${shared}/api/v1/users`, { headers: stack.key.creator1 })
      assertProblem(users, 403, 'QB_FORBIDDEN')
      assertProblem(await http(stack.url, 'PATCH', `/regions/eu/tenants/${shared}/api/v1/tenants/${b.id}`, { headers: stack.key.creator1, body: rename('pwned') }), 403, 'QB_FORBIDDEN')
      assert.notEqual(stack.simulator.getTenant(b.id)?.name, 'pwned')
      const check = await http(stack.url, 'POST', '/policy/check', { headers: stack.key.creator1, body: { region: 'eu', method: 'GET', path: '/api/v1/users', tenant: shared } })
      assert.equal(check.json<{ allowed: boolean }>().allowed, false, check.text)
      // creator2 reaches its own tenant by the alias; creator1 still reaches its own by its new one.
      assert.equal((await http(stack.url, 'GET', `/regions/eu/tenants/${shared}/api/v1/users`, { headers: stack.key.creator2 })).status, 200)
      assert.equal((await http(stack.url, 'GET', '/regions/eu/tenants/moved.eu.qlikcloud.com/api/v1/users', { headers: stack.key.creator1 })).status, 200)
    })
  }

  await it('routes a registered tenant to its first hostname, so even an alias moved outside the broker reaches the tenant the policy judged (§1)', async (t) => {
    const stack = await startRoutingStack(t, { redis })
    const shared = 'shared.eu.qlikcloud.com'
    const a = await create(stack, 'creator1')
    assert.equal((await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${a.id}`, { headers: stack.key.creator1, body: alias(shared) })).status, 204)
    // At Qlik, not through the broker: the alias leaves A and another tenant takes it.
    const eu = DEMO_CLIENTS.find((client) => client.region === 'eu')
    const minted = await http(stack.simulator.url, 'POST', '/oauth/token', { headers: { host: a.hostnames[0] ?? '' }, body: { grant_type: 'client_credentials', client_id: eu?.clientId, client_secret: eu?.clientSecret } })
    const token = minted.json<{ access_token: string }>().access_token
    const away = await http(stack.simulator.url, 'PATCH', `/api/v1/tenants/${a.id}`, { headers: { host: a.hostnames[0] ?? '', authorization: `Bearer ${token}` }, body: alias('elsewhere.eu.qlikcloud.com') })
    assert.equal(away.status, 204, away.text)
    const victim = stack.simulator.addTenant({ region: 'eu', hostnames: [shared] })

    const users = await http(stack.url, 'GET', `/regions/eu/tenants/${shared}/api/v1/users`, { headers: stack.key.creator1 })
    assert.equal(users.status, 200, users.text)
    const tenantIds = new Set(users.json<{ data: Array<{ tenantId: string }> }>().data.map((user) => user.tenantId))
    assert.deepEqual([...tenantIds], [a.id], 'creator1 read its own tenant, never the one that holds the alias at Qlik now')
    assert.ok(!tenantIds.has(victim.id))
  })

  await it('needs the lifecycle action for Qlik\'s Tenants API through the tenant-level route, however the path is spelled (§2)', async (t) => {
    const stack = await startRoutingStack(t, { redis })
    const tenant = await create(stack, 'admin')
    const host = tenant.hostnames[0] ?? ''
    const attempts: Array<[string, string, unknown?]> = [
      ['GET', `/api/v1/tenants/${tenant.id}`],
      ['PATCH', `/api/v1/tenants/${tenant.id}`, rename('pwned')],
      ['GET', '/api/v1/tenants/me'],
      ['GET', `/api/v1/Tenants/${tenant.id}`],
      ['PATCH', `/api/v1/%74enants/${tenant.id}`, rename('pwned')],
      ['GET', `/api/v1/tenants/${tenant.id}/`],
      ['POST', `/api/v1/tenants/${tenant.id}/actions/deactivate`, {}]
    ]
    for (const [method, path, body] of attempts) {
      for (const name of [tenant.id, host]) {
        const result = await http(stack.url, method, `/regions/eu/tenants/${name}${path}`, { headers: { ...stack.key['api-only'], 'qlik-confirm-hostname': host }, body })
        assertProblem(result, 403, 'QB_FORBIDDEN')
      }
    }
    assert.equal(stack.simulator.getTenant(tenant.id)?.name, tenant.name, 'nothing renamed')
    assert.equal(stack.simulator.getTenant(tenant.id)?.status, 'active')
    // Other tenant-level APIs stay open to the tenantApi grant.
    assert.equal((await http(stack.url, 'GET', `/regions/eu/tenants/${host}/api/v1/users`, { headers: stack.key['api-only'] })).status, 200)
    const check = await http(stack.url, 'POST', '/policy/check', { headers: stack.key['api-only'], body: { region: 'eu', method: 'PATCH', path: `/api/v1/tenants/${tenant.id}`, tenant: host } })
    assert.equal(check.json<{ allowed: boolean }>().allowed, false, check.text)

    // tenants:read is what a read needs there, as on the lifecycle route; it does not make a rename possible.
    assert.equal((await http(stack.url, 'GET', `/regions/eu/tenants/${host}/api/v1/tenants/${tenant.id}`, { headers: stack.key['tenant-reader'] })).status, 200)
    assertProblem(await http(stack.url, 'PATCH', `/regions/eu/tenants/${host}/api/v1/tenants/${tenant.id}`, { headers: stack.key['tenant-reader'], body: rename('pwned') }), 403, 'QB_FORBIDDEN')

    // A rename through this route keeps the registry current, as the lifecycle route does.
    assert.equal((await http(stack.url, 'PATCH', `/regions/eu/tenants/${host}/api/v1/tenants/${tenant.id}`, { headers: stack.key.admin, body: [...rename('renamed') as unknown[], ...alias('acme.eu.qlikcloud.com') as unknown[]] })).status, 204)
    const listed = (await http(stack.url, 'GET', '/regions/eu/tenants', { headers: stack.key.admin })).json<{ data: Tenant[] }>().data.find((entry) => entry.id === tenant.id)
    assert.equal(listed?.name, 'renamed')
    assert.deepEqual(listed?.hostnames, [host, 'acme.eu.qlikcloud.com'])
  })

  await it('records the canonical tenant in audit events, so a hostname-scoped auditor and ?tenant= see every call however it was named (§7)', async (t) => {
    const stack = await startRoutingStack(t, { redis })
    const tenant = await create(stack, 'admin')
    const host = tenant.hostnames[0] ?? ''
    assert.equal((await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: stack.key.admin, body: alias('acme.eu.qlikcloud.com') })).status, 204)
    const calls: Array<[string, string, unknown?, Record<string, string>?]> = [
      ['GET', `/regions/eu/api/v1/tenants/${tenant.id}`],
      ['GET', `/regions/eu/tenants/${tenant.id}/api/v1/users`],
      ['GET', '/regions/eu/tenants/acme.eu.qlikcloud.com./api/v1/users'],
      ['GET', '/regions/eu/tenants/ACME.eu.qlikcloud.com/api/v1/users'],
      ['GET', `/regions/eu/tenants/${host}/api/v1/spaces`],
      ['PATCH', `/regions/eu/api/v1/tenants/${tenant.id}`, rename('acme')],
      ['POST', `/regions/eu/api/v1/tenants/${tenant.id}/actions/deactivate`, {}, { 'qlik-confirm-hostname': host }],
      ['POST', `/regions/eu/api/v1/tenants/${tenant.id}/actions/reactivate`, {}, { 'qlik-confirm-hostname': host }]
    ]
    for (const [method, path, body, headers] of calls) {
      const result = await http(stack.url, method, path, { headers: { ...stack.key.admin, ...headers }, body })
      assert.ok(result.status < 300, `${method} ${path}: ${result.text}`)
    }
    const events = async (caller: Name, query: string): Promise<Array<{ action: string, tenant?: string, tenantHostname?: string, outcome: string, path?: string }>> => {
      const result: HttpResult = await http(stack.url, 'GET', `/audit${query}`, { headers: stack.key[caller] })
      assert.equal(result.status, 200, result.text)
      return result.json<{ data: Array<{ action: string, caller: string, tenant?: string, tenantHostname?: string, outcome: string }> }>().data
        .filter((event) => event.action !== 'audit:read' && event.caller === 'admin' && event.outcome === 'allowed')
    }
    // The create and the alias PATCH, then the eight calls.
    const scoped = await events('acme-auditor', '?region=eu&limit=100')
    assert.equal(scoped.length, 10, JSON.stringify(scoped))
    for (const event of scoped) {
      assert.equal(event.tenant, tenant.id, 'the id, however the caller named it')
      assert.equal(event.tenantHostname, host)
    }
    for (const name of ['acme.eu.qlikcloud.com', 'ACME.eu.qlikcloud.com.', host, tenant.id]) {
      assert.equal((await events('admin', `?region=eu&limit=100&tenant=${encodeURIComponent(name)}`)).length, 10, `?tenant=${name}`)
    }
    assert.equal((await events('admin', `?limit=100&tenant=${encodeURIComponent(host.toUpperCase())}`)).length, 10, 'a hostname filter without region')
    assert.equal((await events('admin', `?region=eu&limit=100&tenant=${tenant.id.toLowerCase()}`)).length, 0, 'ids are case-sensitive')
  })
})
