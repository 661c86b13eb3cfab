import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startCluster } from '../support/cluster.js'
import { assertNoLeak, redisDump } from '../support/leaks.js'
import { runLoad } from '../support/load.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

const UNLIMITED = { tier1PerWindow: 1_000_000, tier2PerWindow: 1_000_000 }

await describe('tokens across replicas', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('mints once per (region, host) for 2,000 concurrent cold requests spread over 4 replicas', async (t) => {
    const cluster = await startCluster({ replicas: 4, redis, simulator: { rateLimits: UNLIMITED } })
    t.after(cluster.close)
    const eu = cluster.simulator.addTenant({ region: 'eu' })
    const us = cluster.simulator.addTenant({ region: 'us' })
    const paths = [`/regions/eu/api/v1/tenants/${eu.id}`, `/regions/us/api/v1/tenants/${us.id}`, `/regions/eu/tenants/${eu.id}/api/v1/users`, `/regions/us/tenants/${us.id}/api/v1/users`]
    const result = await runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % paths.length] ?? '', headers: { authorization: `Bearer ${cluster.key}` }, concurrency: 2000, requests: 2000 })
    assert.equal(result.failed, 0, JSON.stringify(result.failures))
    assert.deepEqual(cluster.simulator.counters().mints, {
      'register.eu.qlikcloud.com': 1,
      'register.us.qlikcloud.com': 1,
      [eu.hostnames[0] ?? '']: 1,
      [us.hostnames[0] ?? '']: 1
    })
    const dump = await redisDump(redis.client())
    assertNoLeak({ redis: dump, logs: cluster.brokers.map((broker) => broker.output()).join('\n') }, [...cluster.simulator.issuedTokens(), 'cluster-eu-secret-0123456789'])
  })

  await it('lets another replica mint after the lease when the lock holder is killed mid-mint', async (t) => {
    const cluster = await startCluster({ replicas: 2, redis, env: { TOKEN_MINT_LEASE_MS: '1000' }, simulator: { rateLimits: UNLIMITED } })
    t.after(cluster.close)
    const [doomed, survivor] = cluster.brokers
    assert.ok(doomed !== undefined && survivor !== undefined)
    const tenant = cluster.simulator.addTenant({ region: 'eu' })
    // The first mint hangs, so the first replica holds the lock when it dies.
    cluster.simulator.setFaults({ latencyMs: 4_000, paths: ['/oauth/token'], times: 1 })
    const headers = { authorization: `Bearer ${cluster.key}` }
    const path = `/regions/eu/api/v1/tenants/${tenant.id}`
    const hanging = fetch(`${doomed.url}${path}`, { headers }).catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await doomed.kill('SIGKILL')
    await hanging
    const started = Date.now()
    const result = await runLoad({ targets: [survivor.url], path: () => path, headers, concurrency: 50, requests: 200 })
    assert.equal(result.failed, 0, JSON.stringify(result.failures))
    assert.ok(Date.now() - started < 8_000, 'the survivor did not wait for the dead holder beyond its lease')
  })

  await it('serves every request while redis-server is killed mid-load and restarted, and recovers', async (t) => {
    const cluster = await startCluster({ replicas: 2, redis, simulator: { rateLimits: UNLIMITED } })
    t.after(async () => {
      await redis.start().catch(() => {})
      await cluster.close()
    })
    const tenant = cluster.simulator.addTenant({ region: 'eu' })
    const headers = { authorization: `Bearer ${cluster.key}` }
    const paths = [`/regions/eu/api/v1/tenants/${tenant.id}`, `/regions/eu/tenants/${tenant.id}/api/v1/users`]
    const load = runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % 2] ?? '', headers, concurrency: 20, durationMs: 6_000, pauseMs: 5 })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    await redis.stop()
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    await redis.start()
    const result = await load
    assert.ok(result.sent > 500, `load ran (${result.sent} requests)`)
    assert.equal(result.failed, 0, `${JSON.stringify(result.failures)}\n${cluster.brokers.map((broker) => broker.output()).join('\n').split('\n').filter((line) => line.includes('"level":"error"')).slice(0, 3).join('\n')}`)

    // Recovered: a new key is shared through Redis again (one mint for both replicas).
    const other = cluster.simulator.addTenant({ region: 'us' })
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const after = await runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: () => `/regions/us/tenants/${other.id}/api/v1/users`, headers, concurrency: 20, requests: 100 })
    assert.equal(after.failed, 0)
    assert.equal(cluster.simulator.counters().mints[other.hostnames[0] ?? ''], 1, 'both replicas use Redis again after it came back')
  })

  await it('finishes every in-flight request on SIGTERM and exits 0', async (t) => {
    const cluster = await startCluster({ replicas: 1, redis, env: { BROKER_SHUTDOWN_GRACE_MS: '10000' }, simulator: { rateLimits: UNLIMITED } })
    t.after(cluster.close)
    const [broker] = cluster.brokers
    assert.ok(broker !== undefined)
    const tenant = cluster.simulator.addTenant({ region: 'eu' })
    const headers = { authorization: `Bearer ${cluster.key}` }
    const path = `/regions/eu/tenants/${tenant.id}/api/v1/users`
    assert.equal((await fetch(`${broker.url}${path}`, { headers })).status, 200)
    cluster.simulator.setFaults({ latencyMs: 1_500, paths: ['/api/v1/users'] })
    const inFlight = Array.from({ length: 50 }, async () => fetch(`${broker.url}${path}`, { headers }).then((response) => response.status, () => 'error'))
    await new Promise((resolve) => setTimeout(resolve, 300))
    const exit = broker.kill('SIGTERM')
    const statuses = await Promise.all(inFlight)
    assert.deepEqual([...new Set(statuses)], [200], 'every in-flight request finished')
    assert.equal(await exit, 0, broker.output().slice(-3000))
    assert.match(broker.output(), /shutting down: draining in-flight requests/)
  })
})
