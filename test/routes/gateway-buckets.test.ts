import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bearer, http } from '../support/http.js'
import { startStack } from '../support/stack.js'

await describe('Qlik rate-limit buckets through the broker', async () => {
  await it('pauses only the bucket Qlik answered 429 for: reloads blocked, Tier 2 writes on the same host still go', async (t) => {
    // Qlik's reloads bucket is spent after 2 (as if another client of the same bot user used it);
    // the broker's own table allows more, so the 3rd reload meets Qlik's 429.
    const stack = await startStack(t, {
      simulator: { rateLimits: { specialLimits: [{ name: 'reloads', method: 'POST', pattern: '/api/v1/reloads', requests: 2, windowMs: 60_000 }] } },
      env: { QLIK_RATE_BUCKETS: '[{"name":"reloads","method":"POST","path":"/api/v1/reloads","limit":"100/60s"}]', QLIK_BUDGET_MAX_WAIT_MS: '2000' }
    })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const base = `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1`
    const headers = { ...bearer(stack.keys.admin), 'content-type': 'application/json' }
    const reload = async (): Promise<{ status: number, code: string | undefined }> => {
      const answer = await http(stack.url, 'POST', `${base}/reloads`, { headers, body: { appId: 'app-1' } })
      return { status: answer.status, code: answer.status === 429 ? answer.json<{ code?: string }>().code : undefined }
    }
    assert.deepEqual([(await reload()).status, (await reload()).status], [201, 201])
    const limited = await reload()
    assert.equal(limited.status, 429, 'Qlik\'s 429, passed on: its Retry-After is beyond what the broker waits')
    const reloadsSent = stack.simulator.counters().requests['POST /api/v1/reloads']

    const write = await http(stack.url, 'POST', `${base}/spaces`, { headers, body: { name: 'after-the-429', type: 'shared' } })
    assert.equal(write.status, 201, 'Tier 2 is another bucket: not paused')
    const read = await http(stack.url, 'GET', `${base}/users`, { headers })
    assert.equal(read.status, 200, 'Tier 1 is not paused either')

    const again = await reload()
    assert.deepEqual(again, { status: 429, code: 'QB_RATE_LIMITED' }, 'the broker holds the paused bucket back itself')
    assert.equal(stack.simulator.counters().requests['POST /api/v1/reloads'], reloadsSent, 'without sending it to Qlik')
    assert.equal(stack.simulator.counters().rateLimited, 1, 'Qlik answered 429 once, no more')
  })
})
