import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import { luaScript } from '../../../src/redis/lua-script.js'
import { startRedisServer, type RedisServer } from '../../support/redis-server.js'

async function calls (client: Redis): Promise<{ eval: number, evalsha: number }> {
  const stats = await client.info('commandstats')
  const count = (name: string): number => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
  return { eval: count('eval'), evalsha: count('evalsha') }
}

await describe('Lua scripts by SHA', async () => {
  let redis: RedisServer
  let client: Redis
  before(async () => {
    redis = await startRedisServer()
    client = redis.client()
  })
  after(async () => { await redis.close() })

  await it('sends the script text once, then runs it by SHA; loads it again after Redis lost it', async () => {
    const increment = luaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert.equal(await increment(client, 1, 'lua-counter', 2), 2)
    assert.deepEqual(await calls(client), { eval: 1, evalsha: 1 }, 'first call: EVALSHA refused (NOSCRIPT), then EVAL')
    assert.equal(await increment(client, 1, 'lua-counter', 3), 5)
    assert.equal(await increment(client, 1, 'lua-counter', 4), 9)
    assert.deepEqual(await calls(client), { eval: 1, evalsha: 3 }, 'then EVALSHA only')
    await client.script('FLUSH')
    assert.equal(await increment(client, 1, 'lua-counter', 1), 10)
    assert.deepEqual(await calls(client), { eval: 2, evalsha: 4 })
  })

  await it('passes a script error through instead of retrying it', async () => {
    const failing = luaScript("return redis.error_reply('broken on purpose')")
    await failing(client, 0).then(() => assert.fail('should reject'), () => {})
    await assert.rejects(failing(client, 0), /broken on purpose/)
  })
})
