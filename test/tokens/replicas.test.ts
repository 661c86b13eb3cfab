// test/run.ts: second lane (broker replicas, SIGKILL and a Redis restart, in real time: mostly waiting)
import assert from 'node:assert/strict'
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Pool } from 'undici'
import { redisUp } from '../support/broker-process.js'
import { startCluster, type Cluster } from '../support/cluster.js'
import { assertNoLeak, redisDump } from '../support/leaks.js'
import { runLoad } from '../support/load.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { waitFor } from '../support/wait.js'

const UNLIMITED = { tier1PerWindow: 1_000_000, tier2PerWindow: 1_000_000 }

await describe('tokens across replicas', async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  // Four replicas started once for the tests that need no fault of their own: the cold-mint test first
  // (nothing minted before it), the SIGTERM test last (it stops one replica).
  await describe('four replicas sharing one Redis', async () => {
    let cluster: Cluster
    before(async () => { cluster = await startCluster({ replicas: 4, redis, simulator: { rateLimits: UNLIMITED }, env: { BROKER_MAX_IN_FLIGHT_REQUESTS: '2000' } }) })
    after(async () => { await cluster.close() })

    await it('mints once per (region, host) for 2,000 concurrent cold requests spread over 4 replicas', async () => {
      assert.deepEqual(cluster.simulator.counters().mints, {}, 'the replicas hold no token yet')
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

    await it('keeps every replica ready and every good tenant served while one caller asks 50 times for an unknown tenant host', async () => {
      const eu = cluster.simulator.addTenant({ region: 'eu' })
      const us = cluster.simulator.addTenant({ region: 'us' })
      const headers = { authorization: `Bearer ${cluster.key}` }
      const targets = cluster.brokers.map((broker) => broker.url)
      const good = [`/regions/eu/tenants/${eu.id}/api/v1/users`, `/regions/us/tenants/${us.id}/api/v1/users`, `/regions/eu/api/v1/tenants/${eu.id}`]
      // Each replica sees every good path (n / targets picks the path, n % targets the replica).
      const goodPath = (n: number): string => good[Math.floor(n / targets.length) % good.length] ?? ''
      const probes = new AbortController()
      const readiness: number[] = []
      const probing = Promise.all(targets.map(async (url) => {
        while (!probes.signal.aborted) {
          readiness.push((await fetch(`${url}/readyz`)).status)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }))
      const [bad, meanwhile] = await Promise.all([
        runLoad({ targets, path: () => '/regions/eu/tenants/nosuchtenant.eu.qlikcloud.com/api/v1/users', headers, concurrency: 5, requests: 50, okStatuses: [404] }),
        runLoad({ targets, path: goodPath, headers, concurrency: 10, requests: 300 })
      ])
      const afterwards = await runLoad({ targets, path: goodPath, headers, concurrency: 10, requests: 300 })
      probes.abort()
      await probing
      assert.equal(bad.ok, 50, `every request to the unknown host got QB_TENANT_HOST_REFUSED (404): ${JSON.stringify(bad.failures)}`)
      assert.equal(meanwhile.failed, 0, JSON.stringify(meanwhile.failures))
      assert.equal(afterwards.failed, 0, JSON.stringify(afterwards.failures))
      assert.ok(readiness.length > 10, `probed (${readiness.length})`)
      assert.deepEqual([...new Set(readiness)], [200], '/readyz never left 200 on any replica')
      assert.ok(cluster.simulator.counters().unknownHostRequests <= targets.length, 'at most one token request per replica for the unknown host')
    })

    await it('finishes every in-flight request on SIGTERM and exits 0', async () => {
      // The last of the group: this replica does not come back. BROKER_SHUTDOWN_GRACE_MS is its default, 10 s.
      const broker = cluster.brokers.at(-1)
      assert.ok(broker !== undefined)
      const tenant = cluster.simulator.addTenant({ region: 'eu' })
      const headers = { authorization: `Bearer ${cluster.key}` }
      const path = `/regions/eu/tenants/${tenant.id}/api/v1/users`
      assert.equal((await fetch(`${broker.url}${path}`, { headers })).status, 200)
      const earlier = cluster.simulator.counters().requests['GET /api/v1/users'] ?? 0
      cluster.simulator.setFaults({ latencyMs: 1_500, paths: ['/api/v1/users'] })
      const inFlight = Array.from({ length: 50 }, async () => fetch(`${broker.url}${path}`, { headers }).then((response) => response.status, () => 'error'))
      // SIGTERM once all 50 are at Qlik (held there 1.5 s): a fixed pause let a
      // request on a loaded machine arrive after it, and be refused (503) as new.
      const atQlik = (): number => (cluster.simulator.counters().requests['GET /api/v1/users'] ?? 0) - earlier
      const deadline = Date.now() + 10_000
      while (atQlik() < 50 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
      assert.equal(atQlik(), 50, 'the 50 requests reached Qlik')
      const exit = broker.kill('SIGTERM')
      const statuses = await Promise.all(inFlight)
      assert.deepEqual([...new Set(statuses)], [200], 'every in-flight request finished')
      assert.equal(await exit, 0, broker.output().slice(-3000))
      assert.match(broker.output(), /shutting down: draining in-flight requests/)
    })
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
    // The lock is taken before the token request: once Qlik holds that request, the doomed replica holds the lock.
    await waitFor('the doomed replica\'s token request is at Qlik', () => cluster.simulator.counters().tokenRequests >= 1)
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
    const running = new AbortController()
    t.after(() => { running.abort() })
    const load = runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % 2] ?? '', headers, concurrency: 20, durationMs: 60_000, pauseMs: 5, signal: running.signal })
    // Requests Qlik answered so far: the load's progress, whatever the machine's speed.
    const served = (): number => Object.values(cluster.simulator.counters().requests).reduce((sum, count) => sum + count, 0)
    await waitFor('the load is under way', () => served() >= 200)
    await redis.stop()
    await waitFor('every replica sees Redis down', async () => (await Promise.all(cluster.brokers.map(async (broker) => redisUp(broker.url)))).every((up) => !up))
    const whileDown = served()
    await waitFor('300 requests served with Redis down', () => served() - whileDown >= 300)
    await redis.start()
    await waitFor('every replica is back on Redis', async () => (await Promise.all(cluster.brokers.map(async (broker) => redisUp(broker.url)))).every((up) => up))
    const reconnected = served()
    await waitFor('200 requests served after Redis came back', () => served() - reconnected >= 200)
    running.abort()
    const result = await load
    assert.ok(result.sent > 500, `load ran (${result.sent} requests)`)
    assert.equal(result.failed, 0, `${JSON.stringify(result.failures)}\n${cluster.brokers.map((broker) => broker.output()).join('\n').split('\n').filter((line) => line.includes('"level":"error"')).slice(0, 3).join('\n')}`)

    // Recovered: a new key is shared through Redis again (one mint for both replicas).
    const other = cluster.simulator.addTenant({ region: 'us' })
    const after = await runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: () => `/regions/us/tenants/${other.id}/api/v1/users`, headers, concurrency: 20, requests: 100 })
    assert.equal(after.failed, 0)
    assert.equal(cluster.simulator.counters().mints[other.hostnames[0] ?? ''], 1, 'both replicas use Redis again after it came back')
  })

  await it('answers every request on every replica within 2 s when the region\'s client is recreated mid-load, with one mint per host for the new client', async (t) => {
    const cluster = await startCluster({ replicas: 2, redis, simulator: { rateLimits: UNLIMITED } })
    t.after(cluster.close)
    const a = cluster.simulator.addTenant({ region: 'eu' })
    const b = cluster.simulator.addTenant({ region: 'eu' })
    const us = cluster.simulator.addTenant({ region: 'us' })
    // `/users/me` is a redirect (answered 302 through the broker): a plain read measures what the test means.
    const paths = [`/regions/eu/tenants/${a.id}/api/v1/users`, `/regions/eu/tenants/${b.id}/api/v1/users`, `/regions/eu/api/v1/tenants/${a.id}`, `/regions/us/tenants/${us.id}/api/v1/users`]
    const headers = { authorization: `Bearer ${cluster.key}` }
    for (const broker of cluster.brokers) {
      const warm = await runLoad({ targets: [broker.url], path: (n) => paths[n % paths.length] ?? '', headers, concurrency: 4, requests: 20 })
      assert.equal(warm.failed, 0, JSON.stringify(warm.failures))
    }

    // Closed-loop load on both replicas, every request timed.
    const pools = cluster.brokers.map((broker) => new Pool(broker.url, { connections: 6 }))
    t.after(async () => { await Promise.all(pools.map(async (pool) => pool.close())) })
    const done: Array<{ replica: number, path: string, start: number, end: number, status: number | string }> = []
    const stop = new AbortController()
    let n = 0
    const worker = async (): Promise<void> => {
      while (!stop.signal.aborted) {
        const i = n++
        const replica = i % pools.length
        // Every replica asks for every host.
        const path = paths[Math.floor(i / pools.length) % paths.length] ?? ''
        const start = Date.now()
        let status: number | string
        try {
          const response = await (pools[replica] as Pool).request({ method: 'GET', path, headers })
          await response.body.dump()
          status = response.statusCode
        } catch (error) {
          status = (error as { code?: string }).code ?? 'error'
        }
        done.push({ replica, path, start, end: Date.now(), status })
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
    const load = Promise.all(Array.from({ length: 12 }, worker))
    await waitFor('both replicas served 50 requests under load', () => [0, 1].every((replica) => done.filter((request) => request.replica === replica && request.status === 200).length >= 50))

    // In My Qlik: delete and recreate the eu client. Then the new pair goes
    // to the secrets store (a file re-rendered in place, as a Vault Agent does).
    const recreated = cluster.simulator.recreateClient('eu')
    const mintsBefore = { ...cluster.simulator.counters().mints }
    const rendered = join(cluster.workDir, '.eu.json.tmp')
    writeFileSync(rendered, JSON.stringify({ client_id: recreated.clientId, client_secret: recreated.clientSecret }))
    renameSync(rendered, join(cluster.workDir, 'eu.json'))
    const switchedAt = Date.now()
    // Held until every eu host has its new client's token and both replicas served well past it; a request
    // stuck behind the old key's lock would still be recorded (with its late end) when the workers stop.
    const newMintsNow = (): Record<string, number> => {
      const mints = cluster.simulator.counters().mints
      return Object.fromEntries(Object.keys(mints).map((host) => [host, (mints[host] ?? 0) - (mintsBefore[host] ?? 0)]).filter(([, count]) => count !== 0))
    }
    await waitFor('every eu host minted with the new client, and each replica served 100 requests after the switch', () =>
      ['register.eu.qlikcloud.com', a.hostnames[0] ?? '', b.hostnames[0] ?? ''].every((host) => (newMintsNow()[host] ?? 0) >= 1) &&
      [0, 1].every((replica) => done.filter((request) => request.replica === replica && request.start >= switchedAt).length >= 100))
    stop.abort()
    await load

    const late = done.filter((request) => request.end - Math.max(request.start, switchedAt) >= 2_000)
    assert.deepEqual(late, [], 'no request waited for the old key\'s mint lock')
    const after = done.filter((request) => request.start >= switchedAt)
    assert.ok(after.length > 100, `load ran after the switch (${after.length} requests)`)
    for (const replica of [0, 1]) assert.ok(after.some((request) => request.replica === replica), `replica ${replica} served after the switch`)
    // Qlik (the simulator, in this process) answers nothing between the
    // recreation and the file write, so every 401 comes after the new secret
    // is in the store: a request in flight at the switch succeeds as well
    // (its retry mints, is refused with the old secret, reads the new one).
    const failed = done.filter((request) => request.status !== 200)
    assert.deepEqual(failed, [], 'every request succeeded, before, across and after the switch')
    assert.deepEqual(newMintsNow(), {
      'register.eu.qlikcloud.com': 1,
      [a.hostnames[0] ?? '']: 1,
      [b.hostnames[0] ?? '']: 1
    }, 'exactly one mint per eu host with the new client, none for us')
    const logs = cluster.brokers.map((broker) => broker.output()).join('\n')
    assert.doesNotMatch(logs, /held the mint lock too long/)
    assertNoLeak({ redis: await redisDump(redis.client()), logs }, [...cluster.simulator.issuedTokens(), recreated.clientSecret, 'cluster-eu-secret-0123456789'])
  })
})
