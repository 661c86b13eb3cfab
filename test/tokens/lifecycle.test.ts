// test/run.ts: second lane (broker replicas under load for whole token lifetimes, in real time: mostly waiting)
import assert from 'node:assert/strict'
import { after, before, describe, it, type TestContext } from 'node:test'
import { createTokenCipher, parseCipherKeys, createCipherKeySpec } from '../../src/tokens/token-cipher.js'
import { createVaultDouble, type VaultDouble } from '../doubles/vault-double.js'
import { CLUSTER_CLIENTS, startCluster, type Cluster } from '../support/cluster.js'
import { runLoad, type LoadResult } from '../support/load.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { waitFor } from '../support/wait.js'

const UNLIMITED = { tier1PerWindow: 1_000_000, tier2PerWindow: 1_000_000 }
// Several refresh cycles of every key prove steady refresh ahead; 15 s of 5 s
// tokens gives each key 4 to 5 of them (STEADY_LOAD_SECONDS runs it longer).
const STEADY_SECONDS = Number(process.env.STEADY_LOAD_SECONDS ?? 15)

function mintLogLines (output: string, reason: string): Array<{ time: number }> {
  return output.split('\n').filter((line) => line.includes('"msg":"minted access token"') && line.includes(`"reason":"${reason}"`)).map((line) => JSON.parse(line) as { time: number })
}

/**
 * Two replicas reading their secrets from the Vault double (token auth), on 3 s tokens, under steady load on eu
 * until `stopLoad()`, so each test holds the load exactly as long as its fault needs rather than a fixed time.
 */
async function startVaultBackedLoad (t: TestContext, redis: RedisServer, options: { checkIntervalSeconds: number }): Promise<{ vault: VaultDouble, cluster: Cluster, load: Promise<LoadResult>, stopLoad: () => void }> {
  const vault = await createVaultDouble({ tokens: [{ token: 'broker-vault-token-0123456789', policies: ['broker'] }] })
  t.after(vault.close)
  for (const client of CLUSTER_CLIENTS) vault.writeSecret('secret', `qlik/regions/${client.region}`, { client_id: client.clientId, client_secret: client.clientSecret })
  const cluster = await startCluster({
    replicas: 2,
    redis,
    secretFiles: false,
    env: { SECRETS_SOURCE: 'vault', VAULT_ADDR: vault.url, VAULT_AUTH_METHOD: 'token', VAULT_TOKEN: 'broker-vault-token-0123456789', SECRETS_CHECK_INTERVAL_SECONDS: String(options.checkIntervalSeconds), TOKEN_EXPIRY_MARGIN_SECONDS: '1' },
    simulator: { tokenLifetimeSeconds: 3, rateLimits: UNLIMITED }
  })
  t.after(cluster.close)
  const tenant = cluster.simulator.addTenant({ region: 'eu' })
  const paths = [`/regions/eu/api/v1/tenants/${tenant.id}`, `/regions/eu/tenants/${tenant.id}/api/v1/users`]
  const running = new AbortController()
  const load = runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % 2] ?? '', headers: { authorization: `Bearer ${cluster.key}` }, concurrency: 8, durationMs: 60_000, pauseMs: 10, signal: running.signal })
  t.after(() => { running.abort() })
  return { vault, cluster, load, stopLoad: () => { running.abort() } }
}

/** Mints so far of every (region, host) key, e.g. `{"eu|host": 3}`. */
function mintsNow (cluster: Cluster): Record<string, number> {
  return { ...cluster.simulator.counters().mints }
}

/** Whether every key minted at least `count` more times than in `before`. */
function everyKeyMintedSince (cluster: Cluster, before: Record<string, number>, count: number): boolean {
  const now = mintsNow(cluster)
  const keys = Object.keys(now)
  return keys.length > 0 && keys.every((key) => (now[key] ?? 0) - (before[key] ?? 0) >= count)
}

await describe('token lifecycle under load and faults', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it(`keeps ${STEADY_SECONDS} s of steady load on 5 s tokens refreshed ahead: lifetime-based mints, no expired token sent, no request waiting after warm-up`, async (t) => {
    const lifetime = 5
    const window = { from: 0.6, to: 0.8 }
    const cluster = await startCluster({ replicas: 2, redis, env: { TOKEN_EXPIRY_MARGIN_SECONDS: '1', TOKEN_REFRESH_WINDOW: `${window.from}-${window.to}` }, simulator: { tokenLifetimeSeconds: lifetime, rateLimits: UNLIMITED } })
    t.after(cluster.close)
    const eu = cluster.simulator.addTenant({ region: 'eu' })
    const us = cluster.simulator.addTenant({ region: 'us' })
    const paths = [`/regions/eu/api/v1/tenants/${eu.id}`, `/regions/us/api/v1/tenants/${us.id}`, `/regions/eu/tenants/${eu.id}/api/v1/users`, `/regions/us/tenants/${us.id}/api/v1/users`]
    const warmUpEnds = Date.now() + 2_000
    const result = await runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % paths.length] ?? '', headers: { authorization: `Bearer ${cluster.key}` }, concurrency: 8, durationMs: STEADY_SECONDS * 1000, pauseMs: 20 })

    assert.equal(result.failed, 0, JSON.stringify(result.failures))
    const counters = cluster.simulator.counters()
    assert.equal(counters.expiredTokenRequests, 0, 'no expired token was ever sent to Qlik')
    const mints = Object.values(counters.mints)
    assert.equal(mints.length, 4)
    // One mint at start, then one per refresh: the earliest replica refreshes
    // somewhere between from and to of each token's lifetime.
    const fewest = 1 + Math.floor(STEADY_SECONDS / (window.to * lifetime)) - 1
    const most = 1 + Math.ceil(STEADY_SECONDS / (window.from * lifetime)) + 1
    for (const count of mints) assert.ok(count >= fewest && count <= most, `mints per key ${count} within [${fewest}, ${most}]`)
    const output = cluster.brokers.map((broker) => broker.output()).join('\n')
    const lateRequestMints = mintLogLines(output, 'request').filter((line) => line.time > warmUpEnds)
    assert.equal(lateRequestMints.length, 0, 'after warm-up every mint was a background refresh; no request waited for one')
    t.diagnostic(`requests ${result.sent}, mints per key ${JSON.stringify(counters.mints)}`)
  })

  await it('serves every request while the Vault double is stopped mid-load, from the secrets already read', async (t) => {
    const { vault, cluster, load, stopLoad } = await startVaultBackedLoad(t, redis, { checkIntervalSeconds: 1 })
    await waitFor('both eu keys (register and tenant host) have a token', () => Object.keys(mintsNow(cluster)).length === 2)
    await vault.stop()
    const whileAway = mintsNow(cluster)
    const logsBefore = cluster.brokers.map((broker) => broker.output().length)
    // Two token turnovers with Vault away, and every replica's secret check (each 1 s) failing meanwhile.
    await waitFor('every key minted twice with Vault away, and every replica found Vault unreachable', () =>
      everyKeyMintedSince(cluster, whileAway, 2) &&
      cluster.brokers.every((broker, i) => broker.output().slice(logsBefore[i]).includes('cannot read region credentials from Vault')))
    await vault.start()
    const back = mintsNow(cluster)
    await waitFor('every key minted again with Vault back', () => everyKeyMintedSince(cluster, back, 1))
    stopLoad()
    const result = await load
    assert.equal(result.failed, 0, JSON.stringify(result.failures))
    assert.ok(result.ok > 0)
  })

  await it('serves every request while the secret is rotated in Qlik and in Vault mid-load', async (t) => {
    const { vault, cluster, load, stopLoad } = await startVaultBackedLoad(t, redis, { checkIntervalSeconds: 30 })
    await waitFor('both eu keys (register and tenant host) have a token', () => Object.keys(mintsNow(cluster)).length === 2)
    // The rotation as operators do it: new secret in My Qlik (the old one stops at once), then in Vault.
    const rotated = 'rotated-eu-secret-after-refresh-in-my-qlik'
    cluster.simulator.rotateSecret('eu', rotated)
    vault.writeSecret('secret', 'qlik/regions/eu', { client_id: 'cluster-eu-client', client_secret: rotated })
    const rotatedAt = mintsNow(cluster)
    // The next mint of each key meets the refused old secret (the 30 s check is far away); two turnovers
    // on the new one show the load carried on through it.
    await waitFor('every key minted twice with the rotated secret', () => everyKeyMintedSince(cluster, rotatedAt, 2))
    stopLoad()
    const result = await load
    assert.equal(result.failed, 0, JSON.stringify(result.failures))
    const output = cluster.brokers.map((broker) => broker.output()).join('\n')
    assert.match(output, /a new secret version was found, minting with it/)
    assert.equal(output.includes(rotated), false, 'the new secret is never logged')
  })

  await it('treats a tampered or foreign-key cache value as a miss: no crash, never sent to Qlik', async (t) => {
    const cluster = await startCluster({ replicas: 1, redis, simulator: { rateLimits: UNLIMITED } })
    t.after(cluster.close)
    const headers = { authorization: `Bearer ${cluster.key}` }
    const [first] = cluster.brokers
    assert.ok(first !== undefined)
    const client = redis.client()
    const tokenKeys = async (): Promise<string[]> => client.keys(`${cluster.env.REDIS_KEY_PREFIX ?? ''}token:*`)
    const foreign = createTokenCipher(parseCipherKeys(createCipherKeySpec('other')))
    const poisoners: Array<(cacheKey: string) => string> = [
      () => 'v1.cluster.AAAAAAAAAAAAAAAA.Zm9yZ2Vk.AAAAAAAAAAAAAAAAAAAAAA',
      (cacheKey) => foreign.encrypt(JSON.stringify({ t: 'attacker-chosen-token', i: Date.now(), e: Date.now() + 3_600_000 }), cacheKey),
      () => 'not even the format'
    ]
    // One tenant host (so one cache key) per poisoned value: a single fresh replica, with nothing
    // in memory for any of them, then reads each value from Redis.
    // A tenant id is looked up on the register host first: its token is cached before the loop.
    assert.equal((await fetch(`${first.url}/regions/eu/tenants/${cluster.simulator.addTenant({ region: 'eu' }).id}/api/v1/users`, { headers })).status, 200)
    const poisoned: Array<{ path: string, cacheKey: string }> = []
    for (const poison of poisoners) {
      const path = `/regions/eu/tenants/${cluster.simulator.addTenant({ region: 'eu' }).id}/api/v1/users`
      const known = new Set(await tokenKeys())
      assert.equal((await fetch(`${first.url}${path}`, { headers })).status, 200)
      const [key, ...more] = (await tokenKeys()).filter((candidate) => !known.has(candidate))
      assert.ok(key !== undefined && more.length === 0, 'the request cached one token, under its tenant host\'s key')
      const cacheKey = key.slice(key.indexOf('{') + 1, -1)
      await client.set(key, poison(cacheKey), 'PX', 60_000)
      poisoned.push({ path, cacheKey })
    }
    const fresh = await cluster.addBroker()
    for (const { path } of poisoned) assert.equal((await fetch(`${fresh.url}${path}`, { headers })).status, 200)
    const misses = fresh.output().split('\n').filter((line) => line.includes('treated as a miss'))
    for (const { cacheKey } of poisoned) assert.ok(misses.some((line) => line.includes(cacheKey)), `the poisoned value under ${cacheKey} was read and treated as a miss`)
    const counters = cluster.simulator.counters()
    assert.equal(counters.unknownTokenRequests, 0, 'no forged or garbled token was ever sent to Qlik')
  })
})
