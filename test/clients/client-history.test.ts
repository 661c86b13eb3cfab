import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { buildApp } from '../../src/app.js'
import { createApiKey } from '../../src/auth/api-keys.js'
import { createClientHistory } from '../../src/clients/client-history.js'
import { loadConfig } from '../../src/config/load-config.js'
import { createDependencies } from '../../src/dependencies.js'
import { captureLogs } from '../support/log-capture.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

const T0 = Date.parse('2026-12-04T10:00:00.000Z')
const iso = (ms: number): string => new Date(ms).toISOString()
const SECRET_A = 'client-a-secret-4f0d2e'
const SECRET_B = 'client-b-secret-8a61c7'

let redisServer: RedisServer
before(async () => { redisServer = await startRedisServer() })
after(async () => { await redisServer.close() })

/** A client configured as the broker's own (no offline queue: fail fast while Redis is away). */
async function brokerRedis (t: TestContext): Promise<Redis> {
  const redis = new Redis(redisServer.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1000, retryStrategy: () => 100 })
  redis.on('error', () => {})
  t.after(() => { redis.disconnect() })
  await once(redis, 'ready')
  return redis
}

async function until (check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!await check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

await describe('client history in Redis', async () => {
  await it('is shared by replicas and survives a restart: a replica that only knows the new client still lists the old one', async (t) => {
    const logs = captureLogs()
    const clock = { at: T0 }
    const raw = redisServer.client()
    const prefix = `qb-history-${Date.now()}:`
    const replica1 = createClientHistory({ redis: await brokerRedis(t), keyPrefix: prefix, logger: logs.logger, now: () => clock.at, usedWriteEveryMs: 60_000 })
    replica1.used('eu', 'client-a')
    await until(async () => await raw.hget(`${prefix}clients:{eu}:last-used`, 'client-a') === String(T0), 'the first use in redis')

    // Uses within the write interval stay in memory; the next one after it is written.
    clock.at = T0 + 30_000
    replica1.used('eu', 'client-a')
    await sleep(50)
    assert.equal(await raw.hget(`${prefix}clients:{eu}:last-used`, 'client-a'), String(T0))
    clock.at = T0 + 45_000
    replica1.used('eu', 'client-a')
    clock.at = T0 + 90_000
    // The change writes the old client's final last use at once.
    replica1.used('eu', 'client-b')
    await until(async () => await raw.hget(`${prefix}clients:{eu}:last-used`, 'client-a') === String(T0 + 45_000), 'the old client\'s last use')
    await until(async () => await raw.hget(`${prefix}clients:{eu}:first-used`, 'client-b') === String(T0 + 90_000), 'the new client\'s first use')

    // Another replica (or this one after a restart) that has only used the new client.
    clock.at = T0 + 120_000
    const replica2 = createClientHistory({ redis: await brokerRedis(t), keyPrefix: prefix, logger: logs.logger, now: () => clock.at })
    replica2.used('eu', 'client-b')
    assert.deepEqual(await replica2.forRegion('eu'), {
      region: 'eu',
      currentClientId: 'client-b',
      previous: [{ clientId: 'client-a', firstUsedAt: iso(T0), lastUsedAt: iso(T0 + 45_000), replacedAt: iso(T0 + 90_000) }]
    })
    // A replica that has not served the region yet still reports what Redis knows.
    const replica3 = createClientHistory({ redis: await brokerRedis(t), keyPrefix: prefix, logger: logs.logger })
    assert.equal((await replica3.forRegion('eu')).currentClientId, 'client-b')
    assert.deepEqual((await replica3.forRegion('eu')).previous.map((entry) => entry.clientId), ['client-a'])
    // Replicas never overwrite an earlier first use or a later last use.
    assert.equal(await raw.hget(`${prefix}clients:{eu}:first-used`, 'client-b'), String(T0 + 90_000))
  })

  await it('answers from memory and keeps recording while Redis is down, and writes again once it is back', async (t) => {
    const logs = captureLogs()
    const clock = { at: T0 }
    const prefix = `qb-down-${Date.now()}:`
    const history = createClientHistory({ redis: await brokerRedis(t), keyPrefix: prefix, logger: logs.logger, now: () => clock.at })
    history.used('eu', 'client-a')
    await redisServer.stop()
    try {
      clock.at = T0 + 1000
      history.used('eu', 'client-b')
      const listed = await history.forRegion('eu')
      assert.equal(listed.currentClientId, 'client-b')
      assert.deepEqual(listed.previous.map((entry) => entry.clientId), ['client-a'])
    } finally {
      await redisServer.start()
    }
    const raw = redisServer.client()
    // Redis came back empty (no persistence): the failed write is retried with the next use.
    await until(async () => {
      clock.at += 1
      history.used('eu', 'client-b')
      return await raw.hget(`${prefix}clients:{eu}:first-used`, 'client-b') === String(T0 + 1000)
    }, 'the use recorded after Redis came back')
  })
})

await describe('client history in the broker', async () => {
  await it('notices a secret file with another client_id: old id listed with its last use, the change counted in /metrics, no secret anywhere', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'client-history-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'eu.json'), JSON.stringify({ client_id: 'client-a', client_secret: SECRET_A }))
    t.mock.timers.enable({ apis: ['setInterval'] })
    const logs = captureLogs()
    const { key, hash } = createApiKey()
    const config = loadConfig({ SECRETS_SOURCE: 'file', SECRETS_DIR: dir, QLIK_REGIONS: 'eu,us', SECRETS_CHECK_INTERVAL_SECONDS: '10' }, {
      callers: [{ name: 'ops', apiKeyHashes: [hash], grants: [{ regions: ['eu'], actions: ['tenants:read'] }] }]
    })
    const deps = createDependencies(config, logs.logger)
    t.after(() => deps.close())
    const app = await buildApp(deps, { logger: logs.logger })
    t.after(() => app.close())
    const changes = async (): Promise<string | undefined> => (await deps.metrics.scrape()).match(/^qlik_broker_client_id_changes_total\{region="eu"\} (\d+)$/m)?.[1]

    assert.equal((await deps.secrets.get('eu')).clientId, 'client-a')
    assert.equal(await changes(), '0')
    assert.match(await deps.metrics.scrape(), /^qlik_broker_client_id_changes_total\{region="us"\} 0$/m)

    await writeFile(join(dir, 'eu.json.tmp'), JSON.stringify({ client_id: 'client-b', client_secret: SECRET_B }))
    await rename(join(dir, 'eu.json.tmp'), join(dir, 'eu.json'))
    t.mock.timers.tick(10_000)
    await until(async () => (await deps.secrets.get('eu')).clientId === 'client-b', 'the new file to be read')

    const history = await deps.clientHistory.forRegion('eu')
    assert.equal(history.currentClientId, 'client-b')
    assert.deepEqual(history.previous.map((entry) => entry.clientId), ['client-a'])
    assert.ok(Date.parse(history.previous[0]?.lastUsedAt ?? '') <= Date.parse(history.previous[0]?.replacedAt ?? ''))
    assert.equal(await changes(), '1')
    assert.ok(logs.lines.some((line) => line.includes('regional client id changed')))

    const region = await app.inject({ method: 'GET', url: '/regions/eu', headers: { authorization: `Bearer ${key}` } })
    assert.equal(region.statusCode, 200)
    const { clients } = region.json<{ clients: { currentClientId: string, previous: Array<{ clientId: string, lastUsedAt: string }> } }>()
    assert.equal(clients.currentClientId, 'client-b')
    assert.deepEqual(clients.previous.map((entry) => [entry.clientId, entry.lastUsedAt]), history.previous.map((entry) => [entry.clientId, entry.lastUsedAt]))

    const everything = [logs.text(), region.body, JSON.stringify(history), await deps.metrics.scrape()].join('\n')
    for (const secret of [SECRET_A, SECRET_B]) assert.equal(everything.includes(secret), false)
  })
})
