import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fromFields } from '../../src/audit/audit-log.js'
import { createApiKey } from '../../src/auth/api-keys.js'
import { bearer, http, type HttpResult } from '../support/http.js'
import { assertNoLeak, redisDump } from '../support/leaks.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { sensitiveValues } from '../support/stack.js'
import { assertProblem, eventually, sleep, startGovernanceStack, type GovernanceStack } from './support.js'

interface AuditEvent { id: string, time: string, requestId: string, callerRequestId?: string, caller: string, region: string, tenant?: string, action: string, outcome: string, upstreamStatus?: number, durationMs?: number, idempotencyKey?: string, method?: string, path?: string }

const audit = async (stack: GovernanceStack, key: string, query = '', requestId?: string): Promise<HttpResult> => http(stack.url, 'GET', `/audit${query}`, { headers: { ...bearer(key), ...(requestId === undefined ? {} : { 'x-request-id': requestId }) } })
const events = (result: HttpResult): AuditEvent[] => {
  assert.equal(result.status, 200, result.text)
  return result.json<{ data: AuditEvent[] }>().data
}

await describe('audit trail', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('stores exactly one event per action (allowed, denied, failed) in the Redis stream, and GET /audit filters it for auditors only', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const admin = bearer(stack.keys.admin)
    const start = new Date().toISOString()

    const created = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: { ...admin, 'x-request-id': 'act-1', 'idempotency-key': 'audit-create' }, body: { licenseKey: 'lk' } })
    assert.equal(created.status, 201)
    const tenant = created.json<{ id: string, hostnames: string[] }>()
    await sleep(25)
    const middle = new Date().toISOString()
    await sleep(25)
    assertProblem(await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: { ...bearer(stack.keys.nobody), 'x-request-id': 'act-2' }, body: { licenseKey: 'lk' } }), 403, 'QB_FORBIDDEN')
    assertProblem(await http(stack.url, 'GET', '/regions/eu/tenants/NoSuchTenant42/api/v1/users', { headers: { ...admin, 'x-request-id': 'act-3' } }), 422, 'QB_TENANT_HOST_UNKNOWN')
    const user = await http(stack.url, 'POST', `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users?fields=id`, { headers: { ...admin, 'x-request-id': 'act-4' }, body: { subject: 'idp|ada', name: 'Ada', email: 'ada@example.com' } })
    assert.equal(user.status, 201, user.text)
    assertProblem(await http(stack.url, 'POST', `/regions/us/api/v1/tenants/${tenant.id}/actions/deactivate`, { headers: { ...bearer(stack.keys.reader), 'x-request-id': 'act-5', 'qlik-confirm-hostname': tenant.hostnames[0] ?? '' }, body: {} }), 403, 'QB_FORBIDDEN')
    const end = new Date().toISOString()

    // The stream itself: one entry per action, with the right fields.
    const client = redis.client()
    const [streamKey] = await client.keys('*audit')
    assert.ok(streamKey !== undefined, 'the audit stream exists')
    // Events reach the stream in batches, within the broker's flush interval (20 ms).
    await eventually(async () => await client.xlen(streamKey) >= 5, 2_000, 'the batch reaching the stream')
    const entries = (await client.xrange(streamKey, '-', '+')).map(([, fields]) => fromFields(fields))
    assert.deepEqual(entries.map((event) => event?.callerRequestId), ['act-1', 'act-2', 'act-3', 'act-4', 'act-5'], 'exactly one event per action, in order')
    const [create, denied, failed, passThrough, lifecycleDenied] = entries
    assert.deepEqual({ ...create, time: undefined, durationMs: undefined }, { time: undefined, durationMs: undefined, requestId: create?.requestId, callerRequestId: 'act-1', caller: 'admin', region: 'eu', tenant: tenant.id, tenantHostname: tenant.hostnames[0], action: 'tenants:create', outcome: 'allowed', upstreamStatus: 201, idempotencyKey: 'audit-create' })
    assert.ok(typeof create?.durationMs === 'number' && create.durationMs >= 0)
    assert.ok((create?.time ?? '') >= start && (create?.time ?? '') <= end)
    assert.deepEqual({ caller: denied?.caller, action: denied?.action, outcome: denied?.outcome, upstreamStatus: denied?.upstreamStatus }, { caller: 'nobody', action: 'tenants:create', outcome: 'denied', upstreamStatus: undefined })
    assert.deepEqual({ action: failed?.action, outcome: failed?.outcome, tenant: failed?.tenant, method: failed?.method, path: failed?.path }, { action: 'tenant-api', outcome: 'failed', tenant: 'NoSuchTenant42', method: 'GET', path: '/api/v1/users' })
    assert.deepEqual({ action: passThrough?.action, outcome: passThrough?.outcome, upstreamStatus: passThrough?.upstreamStatus, path: passThrough?.path }, { action: 'tenant-api', outcome: 'allowed', upstreamStatus: 201, path: '/api/v1/users' })
    assert.deepEqual({ caller: lifecycleDenied?.caller, region: lifecycleDenied?.region, tenant: lifecycleDenied?.tenant, outcome: lifecycleDenied?.outcome }, { caller: 'reader', region: 'us', tenant: tenant.id, outcome: 'denied' })
    // The existing audit log line is still there, one per action.
    const auditLines = stack.logs.lines.map((line) => JSON.parse(line) as { audit?: boolean, callerRequestId?: string }).filter((line) => line.audit === true)
    assert.deepEqual(auditLines.map((line) => line.callerRequestId), ['act-1', 'act-2', 'act-3', 'act-4', 'act-5'])

    // GET /audit: auditors only, newest first, filters combine.
    assertProblem(await audit(stack, stack.keys.admin, '', 'read-admin'), 403, 'QB_FORBIDDEN')
    assertProblem(await audit(stack, stack.keys.reader, '?region=eu'), 403, 'QB_FORBIDDEN')
    const everything = events(await audit(stack, stack.keys.auditor))
    assert.deepEqual(everything.map((event) => event.callerRequestId).filter((id) => id?.startsWith('act-') === true), ['act-5', 'act-4', 'act-3', 'act-2', 'act-1'])
    // The admin's refused read is an event of its own.
    assert.deepEqual(events(await audit(stack, stack.keys.auditor, '?caller=admin')).map((event) => event.callerRequestId), ['read-admin', 'act-4', 'act-3', 'act-1'])
    assert.deepEqual(events(await audit(stack, stack.keys.auditor, '?region=us')).map((event) => event.callerRequestId), ['act-5'])
    assert.deepEqual(events(await audit(stack, stack.keys.auditor, `?tenant=${tenant.id}`)).map((event) => event.callerRequestId), ['act-5', 'act-4', 'act-1'], 'the call made by hostname too: events carry the canonical tenant')
    assert.deepEqual(events(await audit(stack, stack.keys.auditor, `?caller=admin&region=eu&tenant=${tenant.hostnames[0] ?? ''}`)).map((event) => event.callerRequestId), ['act-4', 'act-1'])
    assert.deepEqual(events(await audit(stack, stack.keys.auditor, `?since=${encodeURIComponent(middle)}&until=${encodeURIComponent(end)}&caller=admin`)).map((event) => event.callerRequestId), ['act-4', 'act-3'])
    assert.deepEqual(events(await audit(stack, stack.keys.auditor, `?until=${encodeURIComponent(middle)}&region=eu`)).map((event) => event.callerRequestId), ['act-1'])
    const firstPage = await audit(stack, stack.keys.auditor, '?caller=admin&limit=3')
    assert.deepEqual(events(firstPage).map((event) => event.callerRequestId), ['read-admin', 'act-4', 'act-3'])
    const cursor = firstPage.json<{ nextCursor?: string }>().nextCursor ?? ''
    const lastPage = await audit(stack, stack.keys.auditor, `?caller=admin&limit=3&cursor=${cursor}`)
    assert.deepEqual(events(lastPage).map((event) => event.callerRequestId), ['act-1'])
    assert.equal(lastPage.json<{ nextCursor?: string }>().nextCursor, undefined)
    assertProblem(await audit(stack, stack.keys.auditor, '?since=yesterday'), 400, 'QB_INVALID_REQUEST')

    // Reading the trail is itself audited, refusals included.
    const reads = (await client.xrange(streamKey, '-', '+')).map(([, fields]) => fromFields(fields)).filter((event) => event?.action === 'audit:read')
    assert.deepEqual(reads.map((event) => `${event?.caller} ${event?.outcome}`).slice(0, 3), ['admin denied', 'reader denied', 'auditor allowed'])

    const dump = await redisDump(client)
    assertNoLeak({
      stream: JSON.stringify(await client.xrange(streamKey, '-', '+')),
      responses: JSON.stringify(everything),
      redis: dump,
      logs: stack.logs.text()
    }, sensitiveValues(stack))
  })

  await it('shows an auditor with a region-scoped grant only that region\'s events', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const key = createApiKey()
    stack.writeConfig({ callers: [...stack.callers, { name: 'eu-auditor', apiKeyHashes: [key.hash], grants: [{ regions: ['eu'], actions: ['audit:read'] }] }] })
    await eventually(async () => (await http(stack.url, 'GET', '/regions', { headers: bearer(key.key) })).status === 200, 5_000, 'the eu auditor being loaded')
    const tenant = stack.simulator.addTenant({ region: 'us' })
    await http(stack.url, 'GET', `/regions/us/api/v1/tenants/${tenant.id}`, { headers: { ...bearer(stack.keys.admin), 'x-request-id': 'in-us', 'qlik-tenant-hostname': tenant.hostnames[0] ?? '' } })
    await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: { ...bearer(stack.keys.admin), 'x-request-id': 'in-eu' }, body: { licenseKey: 'x' } })
    const seen = events(await audit(stack, key.key)).map((event) => event.callerRequestId)
    assert.ok(seen.includes('in-eu'))
    assert.equal(seen.includes('in-us'), false)
    assertProblem(await audit(stack, key.key, '?region=us'), 403, 'QB_FORBIDDEN')
  })

  await it('shows a caller whose audit:read grant says `created` only the events of tenants it created', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const key = createApiKey()
    stack.writeConfig({ callers: [...stack.callers, { name: 'owner', apiKeyHashes: [key.hash], grants: [{ regions: ['eu'], actions: ['tenants:create', 'tenants:read', 'audit:read'], tenants: 'created' }] }] })
    await eventually(async () => (await http(stack.url, 'GET', '/regions', { headers: bearer(key.key) })).status === 200, 5_000, 'the owner being loaded')
    const mine = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: { ...bearer(key.key), 'x-request-id': 'own-create' }, body: { licenseKey: 'x' } })
    assert.equal(mine.status, 201)
    const id = mine.json<{ id: string }>().id
    await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${id}`, { headers: { ...bearer(stack.keys.admin), 'x-request-id': 'admin-reads-mine' } })
    await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: { ...bearer(stack.keys.admin), 'x-request-id': 'admin-create' }, body: { licenseKey: 'y' } })
    const seen = events(await audit(stack, key.key)).map((event) => event.callerRequestId)
    assert.deepEqual(seen, ['admin-reads-mine', 'own-create'], 'events on its tenant, whoever acted; nothing else')
  })

  await it('keeps serving and logging while Redis is down, and stores the events once it is back', async (t) => {
    const ownRedis = await startRedisServer()
    t.after(async () => { await ownRedis.close() })
    const stack = await startGovernanceStack(t, { redis: ownRedis })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const read = async (id: string): Promise<number> => (await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: { ...bearer(stack.keys.admin), 'x-request-id': id, 'qlik-tenant-hostname': tenant.hostnames[0] ?? '' } })).status
    assert.equal(await read('up-1'), 200)
    const client = ownRedis.client()
    const stored = async (): Promise<string[]> => {
      const [streamKey] = await client.keys('*audit')
      return streamKey === undefined ? [] : (await client.xrange(streamKey, '-', '+')).map(([, fields]) => fromFields(fields)?.callerRequestId ?? '')
    }
    await eventually(async () => (await stored()).length === 1, 2_000, 'the first event being written')
    await ownRedis.stop()
    for (const id of ['down-1', 'down-2', 'down-3']) assert.equal(await read(id), 200, 'the request is not failed')
    const lines = stack.logs.lines.map((line) => JSON.parse(line) as { audit?: boolean, callerRequestId?: string, msg?: string })
    assert.deepEqual(lines.filter((line) => line.audit === true).map((line) => line.callerRequestId), ['up-1', 'down-1', 'down-2', 'down-3'], 'every action still has its audit log line')
    // The test's redis-server restarts empty (no persistence): what is in it afterwards was written after the restart.
    await ownRedis.start()
    await eventually(async () => (await stored()).length >= 3, 5_000, 'the waiting events being written')
    assert.deepEqual(await stored(), ['down-1', 'down-2', 'down-3'], 'the events recorded during the outage, in order, once each')
    assert.equal(stack.logs.lines.some((line) => /audit events could not be stored/.test(line)), false, 'nothing was dropped, so nothing is reported lost')
  })

  await it('keeps the trail in process without Redis', async (t) => {
    const stack = await startGovernanceStack(t)
    await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: { ...bearer(stack.keys.nobody), 'x-request-id': 'mem-1' }, body: { licenseKey: 'x' } })
    const seen = events(await audit(stack, stack.keys.auditor, '?caller=nobody'))
    assert.deepEqual(seen.map((event) => [event.callerRequestId, event.outcome]), [['mem-1', 'denied']])
  })
})
