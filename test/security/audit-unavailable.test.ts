import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { assertProblem, startGovernanceStack } from '../governance/support.js'
import { bearer, http } from '../support/http.js'
import { startRedisServer } from '../support/redis-server.js'

await describe('issue 10 §8: GET /audit while Redis is down', async () => {
  await it('answers 503 QB_AUDIT_UNAVAILABLE with Retry-After, and 200 again once Redis is back', async (t) => {
    const redis = await startRedisServer()
    t.after(async () => { await redis.close() })
    const stack = await startGovernanceStack(t, { redis })
    const auditor = bearer(stack.keys.auditor)
    assert.equal((await http(stack.url, 'GET', '/audit', { headers: auditor })).status, 200)
    await redis.stop()
    const started = Date.now()
    const down = await http(stack.url, 'GET', '/audit', { headers: auditor })
    const problem = assertProblem(down, 503, 'QB_AUDIT_UNAVAILABLE')
    assert.match(problem.detail, /cannot be read right now/)
    assert.equal(down.headers['retry-after'], '5')
    assert.ok(Date.now() - started < 5_000, 'it answers, it does not hang')
    assert.ok(!stack.logs.text().includes('QB_INTERNAL'))
    await redis.start()
    let back = 0
    for (let attempt = 0; attempt < 50 && back !== 200; attempt++) {
      back = (await http(stack.url, 'GET', '/audit', { headers: auditor })).status
      if (back !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal(back, 200, 'readable again once Redis is back')
  })
})
