import assert from 'node:assert/strict'
import { after, before, describe, it, type TestContext } from 'node:test'
import { createTokenCipher, parseCipherKeys, createCipherKeySpec } from '../../src/tokens/token-cipher.js'
import { createVaultDouble, type VaultDouble } from '../doubles/vault-double.js'
import { CLUSTER_CLIENTS, startCluster, type Cluster } from '../support/cluster.js'
import { runLoad, type LoadResult } from '../support/load.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

const UNLIMITED = { tier1PerWindow: 1_000_000, tier2PerWindow: 1_000_000 }
const STEADY_SECONDS = Number(process.env.STEADY_LOAD_SECONDS ?? 60)

function mintLogLines (output: string, reason: string): Array<{ time: number }> {
  return output.split('\n').filter((line) => line.includes('"msg":"minted access token"') && line.includes(`"reason":"${reason}"`)).map((line) => JSON.parse(line) as { time: number })
}

/** Two replicas reading their secrets from the Vault double (token auth), on 3 s tokens, under steady load on eu. */
async function startVaultBackedLoad (t: TestContext, redis: RedisServer, options: { checkIntervalSeconds: number, durationMs: number }): Promise<{ vault: VaultDouble, cluster: Cluster, load: Promise<LoadResult> }> {
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
  const load = runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % 2] ?? '', headers: { authorization: `Bearer ${cluster.key}` }, concurrency: 8, durationMs: options.durationMs, pauseMs: 10 })
  return { vault, cluster, load }
}

await describe('token lifecycle under load and faults', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it(`keeps ${STEADY_SECONDS} s of steady load on 10 s tokens refreshed ahead: lifetime-based mints, no expired token sent, no request waiting after warm-up`, async (t) => {
    const lifetime = 10
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
    const { vault, cluster, load } = await startVaultBackedLoad(t, redis, { checkIntervalSeconds: 1, durationMs: 9_000 })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    await vault.stop()
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    await vault.start()
    const result = await load
    assert.equal(result.failed, 0, JSON.stringify(result.failures))
    assert.ok(Object.values(cluster.simulator.counters().mints).some((count) => count >= 3), 'tokens were minted again while Vault was away')
  })

  await it('serves every request while the secret is rotated in Qlik and in Vault mid-load', async (t) => {
    const { vault, cluster, load } = await startVaultBackedLoad(t, redis, { checkIntervalSeconds: 30, durationMs: 8_000 })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    // The rotation as operators do it: new secret in My Qlik (the old one stops at once), then in Vault.
    const rotated = 'rotated-eu-secret-after-refresh-in-my-qlik'
    cluster.simulator.rotateSecret('eu', rotated)
    vault.writeSecret('secret', 'qlik/regions/eu', { client_id: 'cluster-eu-client', client_secret: rotated })
    const result = await load
    assert.equal(result.failed, 0, JSON.stringify(result.failures))
    const output = cluster.brokers.map((broker) => broker.output()).join('\n')
    assert.match(output, /a new secret version was found, minting with it/)
    assert.equal(output.includes(rotated), false, 'the new secret is never logged')
  })

  await it('treats a tampered or foreign-key cache value as a miss: no crash, never sent to Qlik', async (t) => {
    const cluster = await startCluster({ replicas: 1, redis, simulator: { rateLimits: UNLIMITED } })
    t.after(cluster.close)
    const tenant = cluster.simulator.addTenant({ region: 'eu' })
    const headers = { authorization: `Bearer ${cluster.key}` }
    const path = `/regions/eu/api/v1/tenants/${tenant.id}`
    const [first] = cluster.brokers
    assert.ok(first !== undefined)
    assert.equal((await fetch(`${first.url}${path}`, { headers })).status, 200)
    const client = redis.client()
    const [key] = await client.keys(`${cluster.env.REDIS_KEY_PREFIX ?? ''}token:*`)
    assert.ok(key !== undefined)
    const cacheKey = key.slice(key.indexOf('{') + 1, -1)
    const foreign = createTokenCipher(parseCipherKeys(createCipherKeySpec('other')))
    const poisoned = [
      'v1.cluster.AAAAAAAAAAAAAAAA.Zm9yZ2Vk.AAAAAAAAAAAAAAAAAAAAAA',
      foreign.encrypt(JSON.stringify({ t: 'attacker-chosen-token', i: Date.now(), e: Date.now() + 3_600_000 }), cacheKey),
      'not even the format'
    ]
    for (const value of poisoned) {
      await client.set(key, value, 'PX', 60_000)
      const fresh = await cluster.addBroker()
      const response = await fetch(`${fresh.url}${path}`, { headers })
      assert.equal(response.status, 200)
      assert.match(fresh.output(), /treated as a miss/)
    }
    const counters = cluster.simulator.counters()
    assert.equal(counters.unknownTokenRequests, 0, 'no forged or garbled token was ever sent to Qlik')
  })
})
