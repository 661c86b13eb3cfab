import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { assertProblem, eventually, startGovernanceStack, type GovernanceStack } from '../governance/support.js'
import { bearer, http, type HttpResult } from '../support/http.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

interface AuditEvent { requestId: string, caller: string, action: string, outcome: string, upstreamStatus?: number, idempotencyKey?: string }
const CREATE = '/regions/eu/api/v1/tenants'

async function trail (stack: GovernanceStack): Promise<AuditEvent[]> {
  const listed = await http(stack.url, 'GET', '/audit?limit=1000', { headers: bearer(stack.keys.auditor) })
  assert.equal(listed.status, 200, listed.text)
  return listed.json<{ data: AuditEvent[] }>().data
}

/** The one audit event of each answered request, found by the broker's request id. */
async function eventsOf (stack: GovernanceStack, answers: HttpResult[]): Promise<AuditEvent[]> {
  const ids = answers.map((answer) => String(answer.headers['x-request-id']))
  let found: AuditEvent[] = []
  await eventually(async () => {
    const events = await trail(stack)
    found = ids.flatMap((id) => events.filter((event) => event.requestId === id))
    return found.length >= ids.length
  }, 3_000, 'one event per request')
  for (const id of ids) assert.equal(found.filter((event) => event.requestId === id).length, 1, `exactly one event for ${id}`)
  return ids.map((id) => found.find((event) => event.requestId === id) as AuditEvent)
}

await describe('issue 10 §6: requests answered from an Idempotency-Key are judged by the policy in force and audited', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('refuses the replay of a revoked grant, and records replayed, mismatch and refused outcomes', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const admin = { ...bearer(stack.keys.admin), 'idempotency-key': 'revoke-me' }
    const first = await http(stack.url, 'POST', CREATE, { headers: admin, body: { licenseKey: 'lk-1' } })
    assert.equal(first.status, 201, first.text)
    const replayed = await http(stack.url, 'POST', CREATE, { headers: admin, body: { licenseKey: 'lk-1' } })
    assert.equal(replayed.status, 201)
    assert.equal(replayed.headers['idempotent-replayed'], 'true')
    const mismatch = await http(stack.url, 'POST', CREATE, { headers: admin, body: { licenseKey: 'lk-2' } })
    assertProblem(mismatch, 422, 'QB_IDEMPOTENCY_MISMATCH')
    const badKey = await http(stack.url, 'POST', CREATE, { headers: { ...bearer(stack.keys.admin), 'idempotency-key': '' }, body: { licenseKey: 'lk-1' } })
    assertProblem(badKey, 400, 'QB_INVALID_REQUEST')

    // The admin loses tenants:create.
    stack.writeConfig({ callers: stack.callers.map((caller) => caller.name === 'admin' ? { ...caller, grants: [{ regions: '*', actions: ['tenants:read'] }] } : caller) })
    await eventually(async () => (await http(stack.url, 'POST', CREATE, { headers: bearer(stack.keys.admin), body: { licenseKey: 'probe' } })).status === 403, 5_000, 'the revocation taking effect')
    const revoked = await http(stack.url, 'POST', CREATE, { headers: admin, body: { licenseKey: 'lk-1' } })
    assertProblem(revoked, 403, 'QB_FORBIDDEN')
    assert.equal(revoked.headers['idempotent-replayed'], undefined, 'the stored 201 is not handed out any more')
    const revokedMismatch = await http(stack.url, 'POST', CREATE, { headers: admin, body: { licenseKey: 'lk-2' } })
    assertProblem(revokedMismatch, 403, 'QB_FORBIDDEN')

    const events = await eventsOf(stack, [first, replayed, mismatch, badKey, revoked, revokedMismatch])
    assert.deepEqual(events.map((event) => [event.outcome, event.upstreamStatus]), [
      ['allowed', 201], ['replayed', 201], ['mismatch', undefined], ['refused', undefined], ['denied', undefined], ['denied', undefined]
    ])
    assert.ok(events.every((event) => event.caller === 'admin' && event.action === 'tenants:create'))
    assert.deepEqual(events.map((event) => event.idempotencyKey), ['revoke-me', 'revoke-me', 'revoke-me', undefined, 'revoke-me', 'revoke-me'])
  })

  await it('leaves one in-progress event for each request of a burst on one key', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    // Warm the token, then make the first request slow.
    assert.equal((await http(stack.url, 'GET', `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users`, { headers: bearer(stack.keys.admin) })).status, 200)
    stack.simulator.setFaults({ latencyMs: 600, paths: ['/api/v1/spaces'], times: 1 })
    const headers = { ...bearer(stack.keys.admin), 'idempotency-key': 'burst' }
    const path = `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/spaces`
    const first = http(stack.url, 'POST', path, { headers, body: { name: 'burst', type: 'shared' } })
    await new Promise((resolve) => setTimeout(resolve, 150))
    const burst = await Promise.all(Array.from({ length: 40 }, async () => await http(stack.url, 'POST', path, { headers, body: { name: 'burst', type: 'shared' } })))
    for (const answer of burst) assertProblem(answer, 409, 'QB_IDEMPOTENCY_IN_PROGRESS')
    const firstAnswer = await first
    assert.equal(firstAnswer.status, 201, firstAnswer.text)
    const events = await eventsOf(stack, [firstAnswer, ...burst])
    assert.equal(events[0]?.outcome, 'allowed')
    assert.deepEqual([...new Set(events.slice(1).map((event) => event.outcome))], ['in-progress'])
    assert.equal(stack.simulator.counters().requests['POST /api/v1/spaces'], 1, 'sent once')
  })
})
