// test/run.ts: second lane (broker replicas on a started Redis Cluster: mostly waiting)
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Pool } from 'undici'
import { createRedisAuditLog } from '../../src/audit/redis-audit-log.js'
import { createRedisRateBudget } from '../../src/qlik/rate-budget.js'
import { createQuotaCounter } from '../../src/quota/quota-counter.js'
import { createRedisTenantRegistry } from '../../src/registry/redis-tenant-registry.js'
import type { RedisClient } from '../../src/redis/redis-client.js'
import { createRedisClient } from '../../src/redis/redis-connection.js'
import { parseRedisNodes } from '../../src/redis/redis-topology.js'
import { seal } from '../../src/secrets/sealed.js'
import { createRedisTokenStore } from '../../src/tokens/redis-token-store.js'
import { createCipherKeySpec, createTokenCipher, parseCipherKeys } from '../../src/tokens/token-cipher.js'
import { startCluster, type Cluster } from '../support/cluster.js'
import { bearer } from '../support/http.js'
import { assertNoLeak, redisDump } from '../support/leaks.js'
import { runLoad } from '../support/load.js'
import { captureLogs } from '../support/log-capture.js'
import { dumpNodes, startRedisCluster, type RedisClusterSetup } from './servers.js'

const UNLIMITED = { tier1PerWindow: 1_000_000, tier2PerWindow: 1_000_000 }
const SECRETS = ['cluster-eu-secret-0123456789', 'cluster-us-secret-0123456789']

/** Slot → port of the master serving it, from CLUSTER SLOTS. */
async function slotOwners (setup: RedisClusterSetup): Promise<(slot: number) => number> {
  const client = setup.masters[0]?.client()
  assert.ok(client !== undefined)
  const ranges = await client.cluster('SLOTS')
  client.disconnect()
  return (slot) => ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1] ?? -1
}

/** CRC16 (XMODEM) of the hash tag, as Redis Cluster places keys. */
function slotOf (key: string): number {
  const open = key.indexOf('{')
  const close = open === -1 ? -1 : key.indexOf('}', open + 1)
  const tagged = close > open + 1 ? key.slice(open + 1, close) : key
  let crc = 0
  for (const byte of Buffer.from(tagged)) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = (crc & 0x8000) !== 0 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % 16384
}

await describe('the broker on a 3-master Redis Cluster', async () => {
  let setup: RedisClusterSetup
  const clients: RedisClient[] = []
  /** The client the broker makes for REDIS_CLUSTER_NODES (no offline queue), once connected. */
  const clusterClient = async (): Promise<RedisClient> => {
    const client = createRedisClient({ kind: 'cluster', nodes: parseRedisNodes(setup.nodes).nodes, connection: { username: undefined, password: undefined, tls: false, caPem: undefined } })
    client.on('error', () => {})
    clients.push(client)
    await new Promise((resolve) => client.once('ready', resolve))
    return client
  }
  /**
   * The two replicas on the cluster with the default budget, shared by the cold-mint test (which runs
   * first, so its requests are the cold ones) and the idempotency test, which asks nothing of the tokens.
   */
  let shared: Promise<Cluster> | undefined
  const sharedReplicas = async (): Promise<Cluster> => {
    shared ??= startCluster({ replicas: 2, redis: { url: '' }, env: { REDIS_CLUSTER_NODES: setup.nodes, BROKER_MAX_IN_FLIGHT_REQUESTS: '1000' }, simulator: { rateLimits: UNLIMITED } })
    return await shared
  }
  before(async () => { setup = await startRedisCluster() })
  after(async () => {
    await (await shared)?.close()
    for (const client of clients) client.disconnect()
    await setup.close()
  })

  await it('mints once per (region, host) for 1,000 concurrent cold requests over 2 replicas, keys spread over the masters', async (t) => {
    const cluster = await sharedReplicas()
    assert.deepEqual(cluster.simulator.counters().mints, {}, 'the replicas hold no token yet')
    const eu = cluster.simulator.addTenant({ region: 'eu' })
    const us = cluster.simulator.addTenant({ region: 'us' })
    const paths = [`/regions/eu/api/v1/tenants/${eu.id}`, `/regions/us/api/v1/tenants/${us.id}`, `/regions/eu/tenants/${eu.id}/api/v1/users`, `/regions/us/tenants/${us.id}/api/v1/users`]
    const result = await runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % paths.length] ?? '', headers: bearer(cluster.key), concurrency: 1000, requests: 1000 })
    assert.equal(result.failed, 0, JSON.stringify(result.failures))
    assert.deepEqual(cluster.simulator.counters().mints, {
      'register.eu.qlikcloud.com': 1,
      'register.us.qlikcloud.com': 1,
      [eu.hostnames[0] ?? '']: 1,
      [us.hostnames[0] ?? '']: 1
    })
    const dump = await dumpNodes(setup.masters, redisDump)
    const tokenKeys = dump.split('\n').filter((line) => line.startsWith(`${cluster.env.REDIS_KEY_PREFIX}token:`))
    assert.equal(tokenKeys.length, 4, 'the four tokens are in the cluster')
    const owners = await slotOwners(setup)
    const ports = new Set(tokenKeys.map((line) => owners(slotOf(line.split('=')[0] ?? ''))))
    t.diagnostic(`token keys on ${ports.size} master(s)`)
    assert.ok(ports.size >= 2, 'the token keys live on more than one master (the test exercises the cluster, not one node)')
    const logs = cluster.brokers.map((broker) => broker.output()).join('\n')
    assert.doesNotMatch(logs, /redis unavailable|token store unavailable/, 'no replica fell back to its in-process cache')
    assertNoLeak({ redis: dump, logs }, [...cluster.simulator.issuedTokens(), ...SECRETS])
  })

  await it('creates exactly 20 tenants from 400 concurrent creates with 20 keys through 2 replicas, and replays each key', async (t) => {
    const cluster = await sharedReplicas()
    // Qlik takes its time to create: duplicates arrive while the first is in progress.
    cluster.simulator.setFaults({ latencyMs: 300, paths: ['/api/v1/tenants'] })
    const pools = cluster.brokers.map((broker) => new Pool(broker.url, { connections: 32 }))
    t.after(async () => { await Promise.all(pools.map(async (pool) => pool.close())) })
    const send = async (n: number, key: string): Promise<{ status: number, replayed: boolean, body: string }> => {
      const response = await (pools[n % pools.length] as Pool).request({ method: 'POST', path: '/regions/eu/api/v1/tenants', headers: { ...bearer(cluster.key), 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ licenseKey: `lk-${key}` }) })
      return { status: response.statusCode, replayed: response.headers['idempotent-replayed'] === 'true', body: await response.body.text() }
    }
    const storm = await Promise.all(Array.from({ length: 400 }, async (_, n) => ({ key: `ha-key-${n % 20}`, answer: await send(n, `ha-key-${n % 20}`) })))
    cluster.simulator.clearFaults()
    const firsts = new Map<string, string>()
    for (const { key, answer } of storm) {
      assert.ok(answer.status === 201 || answer.status === 409, `only 201 or 409 in progress: ${answer.status} ${answer.body}`)
      if (answer.status === 201 && !answer.replayed) {
        assert.equal(firsts.has(key), false, `${key} was carried out twice`)
        firsts.set(key, answer.body)
      }
    }
    assert.equal(firsts.size, 20)
    assert.equal(cluster.simulator.counters().requests['POST /api/v1/tenants'], 20, 'Qlik was asked once per key')
    for (const [index, [key, first]] of [...firsts].entries()) {
      const replay = await send(index, key)
      assert.deepEqual({ status: replay.status, replayed: replay.replayed, body: replay.body }, { status: 201, replayed: true, body: first })
    }
    // The registry (one hash tag per region) lists what the replicas created.
    const listed = await fetch(`${cluster.brokers[1]?.url ?? ''}/regions/eu/tenants?limit=100`, { headers: bearer(cluster.key) })
    assert.equal(listed.status, 200, await listed.clone().text())
    const ids = new Set(((await listed.json()) as { data: Array<{ id: string }> }).data.map((tenant) => tenant.id))
    for (const body of firsts.values()) assert.ok(ids.has((JSON.parse(body) as { id: string }).id), 'every created tenant is in the shared registry')
  })

  await it('keeps 2 replicas driven at 3x the Tier 2 limit under it through a budget held in the cluster', async (t) => {
    const limit = { requests: 40, windowMs: 2_000 }
    const cluster = await startCluster({
      replicas: 2,
      redis: { url: '' },
      env: { REDIS_CLUSTER_NODES: setup.nodes, QLIK_TIER2_LIMIT: `${limit.requests}/${limit.windowMs}ms`, QLIK_BUDGET_MAX_WAIT_MS: '500', CALLER_QUOTA: '100000/60s' },
      simulator: { rateLimits: { tier1PerWindow: 100_000, tier2PerWindow: limit.requests, windowMs: limit.windowMs } }
    })
    t.after(cluster.close)
    const tenant = cluster.simulator.addTenant({ region: 'eu' })
    const headers = { ...bearer(cluster.key), 'content-type': 'application/json' }
    const started = Date.now()
    const sent: Array<Promise<number>> = []
    for (let n = 0; Date.now() - started < 5_000; n++) {
      const target = cluster.brokers[n % 2]?.url ?? ''
      sent.push(fetch(`${target}/regions/eu/tenants/${tenant.id}/api/v1/spaces`, { method: 'POST', headers, body: JSON.stringify({ name: `space-${n}`, type: 'shared' }) }).then(async (response) => { await response.arrayBuffer(); return response.status }))
      await new Promise((resolve) => setTimeout(resolve, 1000 / 60))
    }
    const statuses = await Promise.all(sent)
    const elapsedMs = Date.now() - started
    assert.equal(cluster.simulator.counters().rateLimited, 0, 'the replicas shared one budget: Qlik never answered 429')
    const created = statuses.filter((status) => status === 201).length
    assert.equal(created + statuses.filter((status) => status === 429).length, statuses.length)
    const allowed = limit.requests * elapsedMs / limit.windowMs
    assert.ok(created >= 0.7 * allowed, `${created} created of ${allowed.toFixed(0)} allowed`)
    assert.doesNotMatch(cluster.brokers.map((broker) => broker.output()).join('\n'), /rate budget kept per process/)
  })

  await it('shares caller quotas between replicas when the callers\' counters live on different masters', async () => {
    const prefix = `qb-quota-${Date.now()}:`
    const owners = await slotOwners(setup)
    // Two callers whose counters are on two different masters.
    const callers = ['caller-0']
    for (let n = 1; callers.length < 2; n++) {
      if (owners(slotOf(`{caller-${n}}`)) !== owners(slotOf('{caller-0}'))) callers.push(`caller-${n}`)
    }
    const logs = captureLogs()
    const limit = { requests: 10, windowMs: 60_000 }
    const replicas = [await clusterClient(), await clusterClient()].map((redis) => createQuotaCounter({ redis, keyPrefix: prefix, logger: logs.logger, syncIntervalMs: 60_000 }))
    const [first, second] = replicas
    assert.ok(first !== undefined && second !== undefined)
    for (const caller of callers) for (let n = 0; n < 6; n++) assert.equal(first.take(caller, limit).allowed, true)
    // close() syncs what was counted; a second replica then sees it after its own sync.
    await first.close()
    for (const caller of callers) assert.equal(second.take(caller, limit).allowed, true)
    await second.close()
    const third = createQuotaCounter({ redis: await clusterClient(), keyPrefix: prefix, logger: logs.logger, syncIntervalMs: 60_000 })
    for (const caller of callers) third.take(caller, limit)
    await third.close()
    // 6 + 1 + 1 = 8 counted per caller in the shared counters.
    const reader = await clusterClient()
    const window = Math.floor(Date.now() / limit.windowMs)
    for (const caller of callers) assert.equal(await reader.get(`${prefix}quota:{${caller}}:${window}`), '8', `${caller}'s count is shared`)
    assert.doesNotMatch(logs.text(), /redis unavailable/)
  })

  await it('runs the registry\'s, audit log\'s and rate budget\'s multi-key scripts and transactions on the cluster, each in one slot', async () => {
    const prefix = `qb-stores-${Date.now()}:`
    const logs = captureLogs()
    const redis = await clusterClient()
    const registry = createRedisTenantRegistry({ redis, keyPrefix: prefix })
    const at = new Date().toISOString()
    // Two regions whose registries live on different masters.
    const owners = await slotOwners(setup)
    const regions = ['eu']
    for (let n = 0; regions.length < 2; n++) if (owners(slotOf(`{r${n}}`)) !== owners(slotOf('{eu}'))) regions.push(`r${n}`)
    for (const region of regions) {
      await registry.record({ id: `t-${region}`, name: 'one', hostnames: [`one.${region}.qlikcloud.com`], region, status: 'active', createdBy: 'load', createdAt: at, updatedAt: at })
      const updated = await registry.update(region, `t-${region}`, { status: 'disabled', alias: `alias.${region}.qlikcloud.com` }, at)
      assert.deepEqual(updated?.hostnames, [`one.${region}.qlikcloud.com`, `alias.${region}.qlikcloud.com`])
      assert.equal((await registry.findByHostname(region, `alias.${region}.qlikcloud.com`))?.status, 'disabled')
      assert.deepEqual((await registry.page(region, undefined, 10)).tenants.map((tenant) => tenant.id), [`t-${region}`])
    }

    const audit = createRedisAuditLog({ redis, keyPrefix: prefix, maxLen: 1000 })
    await Promise.all(Array.from({ length: 30 }, async (_, n) => { await audit.append({ time: at, requestId: `r-${n}`, caller: 'load', region: 'eu', action: 'tenants:read', outcome: 'allowed' }) }))
    assert.equal((await audit.read({ count: 100 })).length, 30)
    await audit.close()

    const budgetOf = (): ReturnType<typeof createRedisRateBudget> => createRedisRateBudget({ redis, keyPrefix: prefix, logger: logs.logger, buckets: new Map([['tier1', { requests: 1000, windowMs: 60_000 }], ['tier2', { requests: 100, windowMs: 60_000 }]]), maxWaitMs: 1_000 })
    const [one, other] = [budgetOf(), budgetOf()]
    assert.equal((await one.reserve('a.eu.qlikcloud.com', 'tier2')).granted, true)
    await one.pause('a.eu.qlikcloud.com', 'tier2', 30_000)
    // Another replica reads the pause and the schedule from the same slot (RESERVE's two keys).
    assert.equal((await other.reserve('a.eu.qlikcloud.com', 'tier2')).granted, false, 'a paused host and bucket is refused by another replica')
    assert.equal((await other.reserve('b.eu.qlikcloud.com', 'tier2')).granted, true, 'another host is not paused')
    assert.doesNotMatch(logs.text(), /redis unavailable/, 'the budget never fell back to the process')
  })

  await it('wakes a waiting replica by the mint notice a script publishes, whichever master holds the key', async () => {
    const cipher = createTokenCipher(parseCipherKeys(createCipherKeySpec('ha')))
    const prefix = `qb-wake-${Date.now()}:`
    const logs = captureLogs()
    const holder = createRedisTokenStore({ redis: await clusterClient(), cipher, keyPrefix: prefix, logger: logs.logger })
    const waiter = createRedisTokenStore({ redis: await clusterClient(), cipher, keyPrefix: prefix, logger: logs.logger })
    // A plain subscriber on every master: the notice a script publishes on one node reaches every node.
    const heard = await Promise.all(setup.masters.map(async (master) => {
      const subscriber = master.client()
      const keys: string[] = []
      subscriber.on('message', (_channel: string, published: string) => { keys.push(published) })
      await subscriber.subscribe(`${prefix}minted`)
      return keys
    }))
    const key = 'eu:wake.eu.qlikcloud.com:client-1:v1'
    const lock = await holder.tryLock(key, 10_000)
    assert.ok(lock !== undefined)
    const started = Date.now()
    const waiting = waiter.waitForMint(key, 8_000)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await lock.commit({ accessToken: seal('cluster-wake-token-0123456789'), issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 }, 3_600_000)
    await waiting
    assert.ok(Date.now() - started < 2_000, 'the waiter woke right after the commit')
    assert.equal((await waiter.get(key))?.accessToken.reveal(), 'cluster-wake-token-0123456789')
    for (let waited = 0; heard.some((keys) => keys.length === 0) && waited < 2_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.deepEqual(heard, [[key], [key], [key]], 'every master relayed the notice')
    await holder.close()
    await waiter.close()
  })
})
