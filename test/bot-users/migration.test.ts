import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { sensitiveValues } from '../support/stack.js'
import { Redis } from 'ioredis'
import { assertNoLeak, redisDump } from '../support/leaks.js'
import { OLD_CLIENT_ID, TENANT_HOSTS, api, movable, seedTenants, startBotUserStack, waitForJob } from './support.js'

// Issue 11: an old bot user with content on 3 tenants, the broker on the
// region's new client; plan lists exactly the old bot user's items, apply
// moves them all through the gateway, a second apply changes nothing.

await describe('bot-user migration over the simulator, with Redis', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('plans exactly the old bot user\'s items on 3 tenants, applies them all once, and a second apply changes nothing', async (t) => {
    const stack = await startBotUserStack(t, redis)
    const tenants = seedTenants(stack.simulator, 3)
    // The broker used the old client before the secret was switched to the new one (client history, issue 11 §1).
    stack.broker.deps.clientHistory.used('eu', OLD_CLIENT_ID)
    const before = tenants.map((tenant) => movable(stack.simulator, tenant.id))

    const plan = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/plan', { tenants: [...TENANT_HOSTS] })
    assert.equal(plan.status, 200, JSON.stringify(plan.body))
    assert.equal(plan.body.tenants.length, 3)
    for (const [index, tenant] of tenants.entries()) {
      const planned = plan.body.tenants[index]
      assert.equal(planned.host, tenant.host)
      assert.deepEqual(planned.inactiveBotUsers.map((user: { id: string }) => user.id), [tenant.oldBotId])
      assert.equal(planned.inactiveBotUsers[0].subject, `qlikbot\\${OLD_CLIENT_ID}`)
      const expected = before[index]?.filter((item) => item.ownerId === tenant.oldBotId).map((item) => item.id).sort()
      assert.deepEqual(planned.items.map((item: { id: string }) => item.id).sort(), expected)
      assert.equal(planned.items.length, 15)
      for (const item of planned.items) {
        assert.equal(item.from, tenant.oldBotId)
        assert.equal(item.to, planned.activeBotUser.id)
        assert.equal(item.action, 'move')
        assert.ok(typeof item.call.path === 'string' && item.call.path.startsWith('/api/v1/'))
      }
      assert.match(planned.notes.join(' '), /app objects/)
    }
    // The plan changed nothing.
    assert.deepEqual(tenants.map((tenant) => movable(stack.simulator, tenant.id)), before)

    const started = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/jobs', { tenants: [...TENANT_HOSTS] })
    assert.equal(started.status, 202, JSON.stringify(started.body))
    const job = await waitForJob(() => api(stack, stack.keys.admin, 'GET', `/regions/eu/bot-users/jobs/${started.body.id as string}`))
    assert.equal(job.status, 'finished')
    assert.deepEqual(job.totals, { found: 45, moved: 45, failed: 0, remaining: 0 })
    assert.equal(job.caller, 'migrator')

    for (const [index, tenant] of tenants.entries()) {
      const newBot = plan.body.tenants[index].activeBotUser.id as string
      const after = movable(stack.simulator, tenant.id)
      assert.deepEqual(after.filter((item) => item.ownerId === tenant.oldBotId), [], 'the old bot user owns nothing any more')
      for (const item of after) {
        const was = before[index]?.find((old) => old.id === item.id)
        if (was?.ownerId === tenant.oldBotId) {
          assert.equal(item.ownerId, newBot, `${item.kind} ${item.id} moved to the new bot user`)
          assert.equal(item.ownerChanges, 1, `${item.kind} ${item.id} moved exactly once`)
        } else {
          assert.deepEqual(item, was, 'content of other owners is untouched')
        }
      }
    }

    // Every move is in the audit trail with its caller and Qlik's status.
    const governance = stack.broker.deps.governance
    assert.ok(governance !== undefined)
    const trail = await governance.audit.query({ caller: 'migrator', limit: 500 }, () => true)
    const moves = trail.events.filter((event) => event.action === 'bot-users:migrate')
    assert.equal(moves.length, 45)
    for (const event of moves) {
      assert.equal(event.caller, 'migrator')
      assert.equal(event.outcome, 'allowed')
      assert.ok(event.upstreamStatus === 200 || event.upstreamStatus === 204)
    }
    const metrics = await (await fetch(`${stack.url}/metrics`)).text()
    assert.match(metrics, /qlik_broker_bot_user_items_total\{region="eu",kind="app",outcome="moved"\} 9/)

    const again = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/jobs', { tenants: [...TENANT_HOSTS] })
    assert.equal(again.status, 202, JSON.stringify(again.body))
    const second = await waitForJob(() => api(stack, stack.keys.admin, 'GET', `/regions/eu/bot-users/jobs/${again.body.id as string}`))
    assert.deepEqual(second.totals, { found: 0, moved: 0, failed: 0, remaining: 0 })
    for (const tenant of tenants) for (const item of movable(stack.simulator, tenant.id)) assert.ok(item.ownerChanges <= 1)

    const listed = await api(stack, stack.keys.admin, 'GET', '/regions/eu/bot-users/jobs')
    assert.deepEqual(listed.body.data.map((entry: { id: string }) => entry.id), [again.body.id, started.body.id])
    assertNoLeak({ plan: JSON.stringify(plan.body), job: JSON.stringify(job), logs: stack.logs.text(), redis: await dumpRedis(redis.url) }, sensitiveValues(stack))
  })
})

async function dumpRedis (url: string): Promise<string> {
  const client = new Redis(url)
  try {
    return await redisDump(client)
  } finally {
    client.disconnect()
  }
}
