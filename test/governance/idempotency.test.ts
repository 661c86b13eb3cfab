// test/run.ts: second lane (broker replicas answering concurrent creates, with Qlik's latency in real time: mostly waiting)
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Pool } from 'undici'
import { startCluster } from '../support/cluster.js'
import { bearer, http } from '../support/http.js'
import { assertNoLeak, redisDump } from '../support/leaks.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { sensitiveValues } from '../support/stack.js'
import { assertProblem, eventually, sleep, startGovernanceStack } from './support.js'

const CREATE = '/regions/eu/api/v1/tenants'

interface Answer { status: number, replayed: boolean, body: string, code?: string, retryAfter?: string }

await describe('Idempotency-Key', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('creates exactly 50 tenants from 1,000 concurrent creates with 50 keys through 3 replicas, then replays each key\'s first 201', async (t) => {
    const cluster = await startCluster({
      replicas: 3,
      redis,
      simulator: { rateLimits: { tier1PerWindow: 1e6, tier2PerWindow: 1e6 } },
      // The caller quota and Qlik budget guard production; here they would only slow the storm down.
      env: { CALLER_QUOTA: '1000000/60s', QLIK_TIER1_LIMIT: '1000000/60s', QLIK_TIER2_LIMIT: '1000000/60s' }
    })
    try {
      // Qlik takes its time to create: duplicates arrive while the first is in progress.
      cluster.simulator.setFaults({ latencyMs: 400, paths: ['/api/v1/tenants'] })
      const pools = cluster.brokers.map((broker) => new Pool(broker.url, { connections: 64 }))
      const headers = { ...bearer(cluster.key), 'content-type': 'application/json' }
      const keyOf = (n: number): string => `storm-key-${n % 50}`
      const bodyOf = (key: string): string => JSON.stringify({ licenseKey: `lk-${key}` })
      const send = async (pool: Pool, key: string, body: string): Promise<Answer> => {
        const response = await pool.request({ method: 'POST', path: CREATE, headers: { ...headers, 'idempotency-key': key }, body })
        const text = await response.body.text()
        const code = response.statusCode >= 400 ? (JSON.parse(text) as { code: string }).code : undefined
        return {
          status: response.statusCode,
          replayed: response.headers['idempotent-replayed'] === 'true',
          body: text,
          ...(code === undefined ? {} : { code }),
          ...(typeof response.headers['retry-after'] === 'string' ? { retryAfter: response.headers['retry-after'] } : {})
        }
      }

      const storm = await Promise.all(Array.from({ length: 1000 }, async (_, n) => {
        const key = keyOf(n)
        return { key, answer: await send(pools[n % pools.length] as Pool, key, bodyOf(key)) }
      }))
      cluster.simulator.clearFaults()

      const firsts = new Map<string, string>()
      const byStatus = new Map<string, number>()
      for (const { key, answer } of storm) {
        const label = `${answer.status}${answer.replayed ? ' replayed' : ''}${answer.code === undefined ? '' : ` ${answer.code}`}`
        byStatus.set(label, (byStatus.get(label) ?? 0) + 1)
        if (answer.status === 201 && !answer.replayed) {
          assert.equal(firsts.has(key), false, `key ${key} was carried out twice`)
          firsts.set(key, answer.body)
        }
      }
      t.diagnostic(`answers: ${JSON.stringify(Object.fromEntries(byStatus))}`)
      const allowed = new Set(['201', '201 replayed', '409 QB_IDEMPOTENCY_IN_PROGRESS'])
      assert.deepEqual([...byStatus.keys()].filter((label) => !allowed.has(label)), [], `only first answers, replays and in-progress refusals: ${JSON.stringify(Object.fromEntries(byStatus))}`)
      assert.equal(firsts.size, 50, 'one first 201 per key')
      assert.ok((byStatus.get('409 QB_IDEMPOTENCY_IN_PROGRESS') ?? 0) > 0, 'duplicates that arrived while the first was in progress got 409')
      for (const { answer } of storm.filter(({ answer }) => answer.status === 409)) assert.equal(answer.retryAfter, '1')
      for (const { key, answer } of storm.filter(({ answer }) => answer.replayed)) assert.equal(answer.body, firsts.get(key), 'a replay during the storm is the first body')

      assert.equal(cluster.simulator.tenants().length, 50, 'exactly 50 tenants exist in Qlik')
      assert.equal(cluster.simulator.counters().requests['POST /api/v1/tenants'], 50, 'Qlik was asked 50 times, once per key')

      // Afterwards every key replays its first answer, whichever replica gets it.
      for (const [index, [key, first]] of [...firsts].entries()) {
        const replay = await send(pools[index % pools.length] as Pool, key, bodyOf(key))
        assert.equal(replay.status, 201)
        assert.equal(replay.replayed, true, `${key} is replayed`)
        assert.equal(replay.body, first, `${key} replays the body of its first 201`)
      }
      const tenantIds = new Set([...firsts.values()].map((body) => (JSON.parse(body) as { id: string }).id))
      assert.equal(tenantIds.size, 50)

      // A used key with another body is another request: refused, nothing sent.
      const mismatch = await http(cluster.brokers[0]?.url ?? '', 'POST', CREATE, { headers: { ...bearer(cluster.key), 'idempotency-key': 'storm-key-7' }, body: { licenseKey: 'another-license' } })
      assertProblem(mismatch, 422, 'QB_IDEMPOTENCY_MISMATCH')
      assert.equal(cluster.simulator.counters().requests['POST /api/v1/tenants'], 50)
      await Promise.all(pools.map(async (pool) => pool.close()))

      const client = redis.client()
      const dump = await redisDump(client)
      assert.match(dump, /idempotency:\{load:[0-9a-f]{64}\}=/, 'records live in the shared Redis, namespaced by caller')
      assertNoLeak({ redis: dump, logs: cluster.brokers.map((broker) => broker.output()).join('\n') }, [...cluster.simulator.issuedTokens(), 'cluster-eu-secret-0123456789', 'cluster-us-secret-0123456789'])
    } finally {
      await cluster.close()
    }
  })

  await it('keeps an upstream timeout as an unknown outcome: 504, then the unknown-outcome problem, and Qlik is never asked again', async (t) => {
    const stack = await startGovernanceStack(t, { redis, env: { QLIK_TIMEOUT_MS: '300', QLIK_RETRY_MAX_ATTEMPTS: '1' } })
    const admin = bearer(stack.keys.admin)
    // Warm the token first: the fault must hit the create, not the mint.
    assert.equal((await http(stack.url, 'POST', CREATE, { headers: admin, body: { licenseKey: 'warm-up' } })).status, 201)
    stack.simulator.setFaults({ latencyMs: 1_500, paths: ['/api/v1/tenants'], times: 1 })
    const before = stack.simulator.counters().requests['POST /api/v1/tenants'] ?? 0

    const first = await http(stack.url, 'POST', CREATE, { headers: { ...admin, 'idempotency-key': 'slow-create', 'x-request-id': 'slow-create-1' }, body: { licenseKey: 'lk-slow' } })
    assertProblem(first, 504, 'QB_UPSTREAM_TIMEOUT')
    await sleep(1_600)

    for (const attempt of [1, 2]) {
      const replay = await http(stack.url, 'POST', CREATE, { headers: { ...admin, 'idempotency-key': 'slow-create' }, body: { licenseKey: 'lk-slow' } })
      const problem = assertProblem(replay, 409, 'QB_IDEMPOTENCY_OUTCOME_UNKNOWN')
      assert.ok(problem.detail.includes(String(first.headers['x-request-id'])), 'it names the first request by the broker\'s id')
      assert.match(problem.detail, /may or may not have been carried out/)
      assert.match(problem.detail, /will not send it again/)
      assert.match(problem.detail, /new Idempotency-Key/, `attempt ${attempt} says how to go on`)
      assert.equal(replay.headers['retry-after'], undefined, 'nothing to wait for')
    }
    assert.equal(stack.simulator.counters().requests['POST /api/v1/tenants'], before + 1, 'the create reached Qlik once and was never sent again')
    // A different request under that key is still a mismatch, not a way around it.
    assertProblem(await http(stack.url, 'POST', CREATE, { headers: { ...admin, 'idempotency-key': 'slow-create' }, body: { licenseKey: 'lk-other' } }), 422, 'QB_IDEMPOTENCY_MISMATCH')
    assertNoLeak({ logs: stack.logs.text() }, sensitiveValues(stack))
  })

  await it('refuses an empty or over-long key with 400, and treats a quoted key like the bare one', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const admin = bearer(stack.keys.admin)
    for (const key of ['', '""', 'k'.repeat(256), 'tab\there']) {
      const result = await http(stack.url, 'POST', CREATE, { headers: { ...admin, 'idempotency-key': key }, body: { licenseKey: 'x' } })
      const problem = assertProblem(result, 400, 'QB_INVALID_REQUEST')
      assert.match(problem.detail, /Idempotency-Key/)
    }
    assert.equal(stack.simulator.counters().tokenRequests, 0, 'nothing was minted for a refused key')
    const longest = 'k'.repeat(255)
    const created = await http(stack.url, 'POST', CREATE, { headers: { ...admin, 'idempotency-key': longest }, body: { licenseKey: 'x' } })
    assert.equal(created.status, 201, created.text)
    const quoted = await http(stack.url, 'POST', CREATE, { headers: { ...admin, 'idempotency-key': `"${longest}"` }, body: { licenseKey: 'x' } })
    assert.equal(quoted.status, 201)
    assert.equal(quoted.headers['idempotent-replayed'], 'true')
    assert.equal(quoted.text, created.text)
    assert.equal(stack.simulator.tenants().length, 1)
  })

  await it('does not store refusals made before Qlik was asked: the same key works once the caller may act', async (t) => {
    const stack = await startGovernanceStack(t, { redis })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const hostname = tenant.hostnames[0] ?? ''
    const path = `/regions/eu/api/v1/tenants/${tenant.id}/actions/deactivate`
    const headers = (key: string): Record<string, string> => ({ ...bearer(key), 'idempotency-key': 'deactivate-once', 'qlik-confirm-hostname': hostname })

    // Same key, two callers: namespaced per caller, so the reader's refusal does not touch the admin's key.
    assertProblem(await http(stack.url, 'POST', path, { headers: headers(stack.keys.reader), body: {} }), 403, 'QB_FORBIDDEN')
    const done = await http(stack.url, 'POST', path, { headers: headers(stack.keys.admin), body: {} })
    assert.equal(done.status, 200, done.text)
    assert.equal(done.headers['idempotent-replayed'], undefined)
    const again = await http(stack.url, 'POST', path, { headers: headers(stack.keys.admin) })
    assert.equal(again.status, 200, 'no body and {} are the same request')
    assert.equal(again.headers['idempotent-replayed'], 'true')
    assert.equal(again.text, done.text)
    assert.equal(stack.simulator.counters().requests['POST /api/v1/tenants/{tenantId}/actions/deactivate'], 1)

    // The confirm header is part of the request: another hostname under the key is another request.
    assertProblem(await http(stack.url, 'POST', path, { headers: { ...headers(stack.keys.admin), 'qlik-confirm-hostname': 'other.eu.qlikcloud.com' }, body: {} }), 422, 'QB_IDEMPOTENCY_MISMATCH')
  })

  await it('replays a tenant-level POST through the pass-through and answers 409 to a duplicate while the first is in progress', async (t) => {
    const stack = await startGovernanceStack(t, { redis, env: { QLIK_TIER2_LIMIT: '1000000/60s' } })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const url = `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users`
    const headers = { ...bearer(stack.keys.admin), 'idempotency-key': 'user-1' }
    const body = { name: 'Ada', email: 'ada@example.com', subject: 'auth0|ada' }
    // Warm the tenant's token so the slow part below is Qlik's answer.
    assert.equal((await http(stack.url, 'GET', url, { headers: bearer(stack.keys.admin) })).status, 200)
    stack.simulator.setFaults({ latencyMs: 500, paths: ['/api/v1/users'], times: 1 })
    const slow = http(stack.url, 'POST', url, { headers, body })
    await eventually(async () => (stack.simulator.counters().requests['POST /api/v1/users'] ?? 0) === 1, 2_000, 'the first POST reaching Qlik')
    const duplicate = await http(stack.url, 'POST', url, { headers, body })
    assertProblem(duplicate, 409, 'QB_IDEMPOTENCY_IN_PROGRESS')
    assert.equal(duplicate.headers['retry-after'], '1')
    const first = await slow
    assert.equal(first.status, 201, first.text)
    const replay = await http(stack.url, 'POST', url, { headers, body })
    assert.equal(replay.status, 201)
    assert.equal(replay.headers['idempotent-replayed'], 'true')
    assert.equal(replay.text, first.text)
    assert.equal(replay.headers['content-type'], first.headers['content-type'], 'the returned headers are replayed')
    assert.equal(stack.simulator.counters().requests['POST /api/v1/users'], 1, 'one user created')
    // GET ignores the header: it is idempotent by itself.
    const listed = await http(stack.url, 'GET', url, { headers })
    assert.equal(listed.headers['idempotent-replayed'], undefined)
  })
})
