import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createApiKey } from '../../src/auth/api-keys.js'
import { bearer, http } from '../support/http.js'
import { assertNoLeak } from '../support/leaks.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { sensitiveValues } from '../support/stack.js'
import { assertProblem, eventually, sleep, startGovernanceStack, type GovernanceStack } from './support.js'

interface Check { caller: string, allowed: boolean, reason: string, grant?: { index: number, tenants: unknown, actions: string[] }, tenant?: { registered: boolean, createdByCaller: boolean }, policyVersion: number }

const check = async (stack: GovernanceStack, key: string, body: unknown): Promise<Check> => {
  const result = await http(stack.url, 'POST', '/policy/check', { headers: bearer(key), body })
  assert.equal(result.status, 200, result.text)
  return result.json<Check>()
}

const logLines = (stack: GovernanceStack, message: RegExp): Array<Record<string, unknown>> => stack.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => message.test(String(line.msg)))

await describe('policy', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('reloads callers when the config file changes: a new key works, a broken file is refused and the old policy stays, a removed caller is out', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const late = createApiKey()
    const regionsAs = async (key: string): Promise<number> => (await http(stack.url, 'GET', '/regions', { headers: bearer(key) })).status
    assert.equal(await regionsAs(late.key), 401, 'unknown before the reload')

    stack.writeConfig({ callers: [...stack.callers, { name: 'late', apiKeyHashes: [late.hash], grants: [{ regions: ['eu'], actions: ['tenants:read'] }] }] })
    await eventually(async () => await regionsAs(late.key) === 200, 5_000, 'the new key working')
    const reloaded = logLines(stack, /config file reloaded/)
    assert.equal(reloaded.length, 1)
    assert.equal(reloaded[0]?.policyVersion, 2)
    assert.ok((reloaded[0]?.callers as string[]).includes('late'))
    assert.equal((await check(stack, late.key, { region: 'eu', action: 'tenants:read' })).allowed, true)

    // Broken in two ways at once: a grant names a region the broker does not run, and an action that does not exist.
    stack.writeConfig({ callers: [...stack.callers, { name: 'late', apiKeyHashes: [late.hash], grants: [{ regions: ['zz'], actions: ['tenants:explode'] }] }] })
    await eventually(async () => logLines(stack, /config file refused/).length === 1, 5_000, 'the refusal being logged')
    const refusal = logLines(stack, /config file refused/)[0] ?? {}
    assert.equal(refusal.level, 'error')
    const problems = (refusal.problems as string[]).join('\n')
    assert.ok(problems.includes(`${stack.configFile}: callers.${stack.callers.length}.grants.0.actions.0`), 'names the file and where in it')
    assert.match(problems, /region "zz" is not configured/)
    assert.equal(await regionsAs(late.key), 200, 'the policy in force stays')
    assert.equal(await regionsAs(stack.keys.admin), 200)
    assert.equal((await check(stack, late.key, { region: 'eu', action: 'tenants:read' })).policyVersion, 2)

    stack.writeConfig('callers: [ {name: "unclosed"\n')
    await eventually(async () => logLines(stack, /config file refused/).length === 2, 5_000, 'the YAML refusal being logged')
    assert.match((logLines(stack, /config file refused/)[1]?.problems as string[]).join('\n'), /not valid YAML/)
    assert.equal(await regionsAs(late.key), 200)

    // Revoking: the caller is gone at the next request, whatever verified it.
    stack.writeConfig({ callers: stack.callers })
    await eventually(async () => await regionsAs(late.key) === 401, 5_000, 'the removed key failing')
    assert.equal(await regionsAs(stack.keys.admin), 200)
    assert.equal(logLines(stack, /config file reloaded/).length, 2)
    assertNoLeak({ logs: stack.logs.text() }, [...sensitiveValues(stack), late.key])
  })

  await it('changes grants of a caller that stays, mid-run', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const tenant = stack.simulator.addTenant({ region: 'us' })
    const read = async (): Promise<number> => (await http(stack.url, 'GET', `/regions/us/api/v1/tenants/${tenant.id}`, { headers: { ...bearer(stack.keys.reader), 'qlik-tenant-hostname': tenant.hostnames[0] ?? '' } })).status
    assert.equal(await read(), 403, 'the reader reads eu only')
    stack.writeConfig({ callers: stack.callers.map((caller) => caller.name === 'reader' ? { ...caller, grants: [{ regions: ['eu', 'us'], actions: ['tenants:read'] }] } : caller) })
    await eventually(async () => await read() === 200, 5_000, 'the widened grant applying')
  })

  await it('answers /policy/check with the deciding grant, for the caller or (as an auditor) another caller, and never reaches Qlik', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    // A tenant the self-service caller created, known to the registry.
    const created = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: bearer(stack.keys.selfservice), body: { licenseKey: 'lk' } })
    assert.equal(created.status, 201)
    const mine = created.json<{ id: string, hostnames: string[] }>()
    const foreign = stack.simulator.addTenant({ region: 'eu' })
    await sleep(10)
    const counters = JSON.stringify(stack.simulator.counters())

    const adminCreate = await check(stack, stack.keys.admin, { region: 'us', action: 'tenants:create' })
    assert.deepEqual({ allowed: adminCreate.allowed, caller: adminCreate.caller, index: adminCreate.grant?.index, reason: adminCreate.reason }, { allowed: true, caller: 'admin', index: 0, reason: 'grant #1' })

    const readerCreate = await check(stack, stack.keys.reader, { region: 'eu', action: 'tenants:create' })
    assert.equal(readerCreate.allowed, false)
    assert.equal(readerCreate.grant, undefined)
    assert.match(readerCreate.reason, /no grant of caller "reader" allows tenants:create in region "eu"/)

    const readerUsers = await check(stack, stack.keys.reader, { region: 'eu', method: 'GET', path: '/api/v1/users/me', tenant: foreign.hostnames[0] })
    assert.equal(readerUsers.allowed, true)
    assert.equal((await check(stack, stack.keys.reader, { region: 'eu', method: 'DELETE', path: '/api/v1/users/me', tenant: foreign.id })).allowed, false)

    const own = await check(stack, stack.keys.selfservice, { region: 'eu', action: 'tenants:deactivate', tenant: mine.id })
    assert.equal(own.allowed, true)
    assert.equal(own.grant?.tenants, 'created')
    assert.deepEqual(own.tenant, { registered: true, createdByCaller: true })
    const byHostname = await check(stack, stack.keys.selfservice, { region: 'eu', method: 'GET', path: '/api/v1/users', tenant: mine.hostnames[0] })
    assert.equal(byHostname.allowed, true)
    const notMine = await check(stack, stack.keys.selfservice, { region: 'eu', action: 'tenants:read', tenant: foreign.id })
    assert.equal(notMine.allowed, false)
    assert.deepEqual(notMine.tenant, { registered: false, createdByCaller: false })

    // Another caller: only for auditors.
    const asAuditor = await check(stack, stack.keys.auditor, { region: 'eu', action: 'tenants:read', tenant: mine.id, caller: 'selfservice' })
    assert.deepEqual({ caller: asAuditor.caller, allowed: asAuditor.allowed, index: asAuditor.grant?.index }, { caller: 'selfservice', allowed: true, index: 0 })
    assertProblem(await http(stack.url, 'POST', '/policy/check', { headers: bearer(stack.keys.reader), body: { region: 'eu', action: 'tenants:read', caller: 'admin' } }), 403, 'QB_FORBIDDEN')
    assertProblem(await http(stack.url, 'POST', '/policy/check', { headers: bearer(stack.keys.auditor), body: { region: 'eu', action: 'tenants:read', caller: 'ghost' } }), 400, 'QB_INVALID_REQUEST')

    // Malformed questions.
    for (const body of [{ region: 'eu' }, { region: 'eu', action: 'tenants:read', method: 'GET', path: '/api/v1/users' }, { region: 'eu', method: 'GET' }, { region: 'eu', action: 'tenants:fly' }]) {
      assertProblem(await http(stack.url, 'POST', '/policy/check', { headers: bearer(stack.keys.admin), body }), 400, 'QB_INVALID_REQUEST')
    }
    assertProblem(await http(stack.url, 'POST', '/policy/check', { headers: bearer(stack.keys.admin), body: { region: 'eu', method: 'GET', path: '/api/v1/../x' } }), 400, 'QB_INVALID_PATH')
    const badTenant = await http(stack.url, 'POST', '/policy/check', { headers: bearer(stack.keys.admin), body: { region: 'eu', action: 'tenants:read', tenant: 'evil.example.com' } })
    assertProblem(badTenant, 400, 'QB_INVALID_TENANT')
    assert.equal(badTenant.json<{ errors: Array<{ source?: { pointer: string } }> }>().errors[0]?.source?.pointer, '/body/tenant')
    assertProblem(await http(stack.url, 'POST', '/policy/check', { headers: bearer(stack.keys.admin), body: { region: 'zz', action: 'tenants:read' } }), 404, 'QB_UNKNOWN_REGION')
    assertProblem(await http(stack.url, 'POST', '/policy/check', { body: { region: 'eu', action: 'tenants:read' } }), 401, 'QB_UNAUTHENTICATED')

    assert.equal(JSON.stringify(stack.simulator.counters()), counters, 'no token minted, nothing sent to Qlik')
  })
})
