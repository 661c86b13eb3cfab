import assert from 'node:assert/strict'
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { bearer, http } from '../support/http.js'
import { assertNoLeak } from '../support/leaks.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { sensitiveValues, startStack } from '../support/stack.js'

await describe('the region\'s client recreated in My Qlik', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('answers 200 to every caller whose token died with the old client once the new pair is in the secrets store, with one mint for the new client', async (t) => {
    const stack = await startStack(t, { redis })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const host = tenant.hostnames[0] ?? ''
    const path = `/regions/eu/tenants/${host}/api/v1/users`
    const admin = bearer(stack.keys.admin)
    const warm = await http(stack.url, 'GET', path, { headers: admin })
    assert.equal(warm.status, 200, warm.text)

    // Qlik drops the old client and its tokens; the new pair is rendered into the file in place.
    const recreated = stack.simulator.recreateClient('eu')
    const mintsBefore = stack.simulator.counters().mints[host] ?? 0
    const rendered = join(stack.secretsDir, '.eu.json.tmp')
    writeFileSync(rendered, JSON.stringify({ client_id: recreated.clientId, client_secret: recreated.clientSecret }))
    renameSync(rendered, join(stack.secretsDir, 'eu.json'))
    // As on the first 401 since Redis started: the delete script is not loaded, so deleting a dead token takes two
    // round trips. (Which read lands between them depends on timing; test/unit/tokens/refused-token.test.ts pins it.)
    await redis.client().script('FLUSH')

    const answers = await Promise.all(Array.from({ length: 20 }, async () => await http(stack.url, 'GET', path, { headers: admin })))
    assert.deepEqual(answers.map((answer) => answer.status), Array.from({ length: 20 }, () => 200), answers.find((answer) => answer.status !== 200)?.text)
    assert.equal((stack.simulator.counters().mints[host] ?? 0) - mintsBefore, 1, 'one mint with the new client')
    assertNoLeak({ logs: stack.logs.text(), responses: answers.map((answer) => answer.text).join('\n') }, [...sensitiveValues(stack), recreated.clientSecret])
  })
})
