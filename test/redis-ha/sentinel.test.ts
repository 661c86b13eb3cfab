// test/run.ts: second lane (a Sentinel failover under load, in real time: mostly waiting)
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Pool } from 'undici'
import { fromFields } from '../../src/audit/audit-log.js'
import { startCluster } from '../support/cluster.js'
import { bearer } from '../support/http.js'
import { assertNoLeak } from '../support/leaks.js'
import { waitFor } from '../support/wait.js'
import { startSentinelSetup, type SentinelSetup } from './servers.js'

const UNLIMITED = { tier1PerWindow: 1_000_000, tier2PerWindow: 1_000_000 }
const PASSWORD = 'redis-data-password-0123456789'
const SENTINEL_PASSWORD = 'redis-sentinel-password-0123456789'

interface Outcome { id: string, status: number | string }

/**
 * `workers` callers in a loop until `signal` aborts or `requests` were sent, each request with its own
 * x-request-id, spread over the replicas. `outcomes` fills as answers arrive, for the test to follow the run.
 */
function steadyLoad (targets: readonly string[], paths: readonly string[], headers: Record<string, string>, options: { workers: number, signal?: AbortSignal, requests?: number }): { outcomes: Outcome[], done: Promise<Outcome[]> } {
  const pools = targets.map((target) => new Pool(target, { connections: options.workers }))
  const outcomes: Outcome[] = []
  const limit = options.requests ?? Infinity
  let next = 0
  const done = Promise.all(Array.from({ length: options.workers }, async () => {
    while (options.signal?.aborted !== true && next < limit) {
      const n = next++
      const id = `ha-sentinel-${n}`
      try {
        const response = await (pools[n % pools.length] as Pool).request({ method: 'GET', path: paths[n % paths.length] ?? '', headers: { ...headers, 'x-request-id': id } })
        await response.body.dump()
        outcomes.push({ id, status: response.statusCode })
      } catch (error) {
        outcomes.push({ id, status: (error as { code?: string }).code ?? 'error' })
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })).then(async () => {
    await Promise.all(pools.map(async (pool) => pool.close()))
    return outcomes
  })
  return { outcomes, done }
}

await describe('the broker on Redis Sentinel (1 master, 1 replica, 3 sentinels, passwords on both)', async () => {
  let setup: SentinelSetup
  // The sentinels discover each other (seconds of hello messages) while the brokers start.
  before(async () => { setup = await startSentinelSetup({ password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD, awaitDiscovery: false }) })
  after(async () => { await setup.close() })

  await it('serves every request through a failover mid-load: one mint per key, and every audit event of the run is on the new master', async (t) => {
    const [cluster] = await Promise.all([startCluster({
      replicas: 2,
      redis: { url: '' },
      env: { REDIS_SENTINELS: setup.sentinelList, REDIS_SENTINEL_MASTER_NAME: setup.masterName, REDIS_PASSWORD: PASSWORD, REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD },
      simulator: { rateLimits: UNLIMITED }
    }), setup.discovered])
    t.after(cluster.close)
    const eu = cluster.simulator.addTenant({ region: 'eu' })
    const us = cluster.simulator.addTenant({ region: 'us' })
    const paths = [`/regions/eu/api/v1/tenants/${eu.id}`, `/regions/us/api/v1/tenants/${us.id}`, `/regions/eu/tenants/${eu.id}/api/v1/users`, `/regions/us/tenants/${us.id}/api/v1/users`]
    const targets = cluster.brokers.map((broker) => broker.url)

    const running = new AbortController()
    t.after(() => { running.abort() })
    const load = steadyLoad(targets, paths, bearer(cluster.key), { workers: 12, signal: running.signal })
    const ok = (): number => load.outcomes.filter((outcome) => outcome.status === 200).length
    await waitFor('the load is under way on every key', () => ok() >= 100 && Object.keys(cluster.simulator.counters().mints).length === 4)
    await setup.master.kill()
    const killedAt = Date.now()
    for (;;) {
      if (await setup.currentMasterPort().catch(() => 0) === setup.replica.port) break
      assert.ok(Date.now() - killedAt < 15_000, 'the sentinels promoted the replica within 15 s')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    t.diagnostic(`failover done ${Date.now() - killedAt} ms after the master was killed`)
    const promoted = setup.replica.client()
    const auditKey = `${cluster.env.REDIS_KEY_PREFIX}audit`
    const afterFailover = load.outcomes.length
    await waitFor('300 more requests after the failover', () => load.outcomes.length - afterFailover >= 300)
    running.abort()
    const outcomes = await load.done

    const failed = outcomes.filter((outcome) => outcome.status !== 200)
    assert.ok(outcomes.length > 300, `load ran (${outcomes.length} requests)`)
    assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${outcomes.length} caller requests failed`)
    assert.deepEqual(cluster.simulator.counters().mints, {
      'register.eu.qlikcloud.com': 1,
      'register.us.qlikcloud.com': 1,
      [eu.hostnames[0] ?? '']: 1,
      [us.hostnames[0] ?? '']: 1
    }, 'one mint per key through the failover')

    // Every event of the run reaches the new master (queued while no master answered, written after).
    const wanted = new Set(outcomes.map((outcome) => outcome.id))
    let missing: string[] = []
    for (const deadline = Date.now() + 15_000; ;) {
      const recorded = new Set((await promoted.xrange(auditKey, '-', '+')).map(([, fields]) => fromFields(fields)?.callerRequestId))
      missing = [...wanted].filter((id) => !recorded.has(id))
      if (missing.length === 0 || Date.now() > deadline) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${wanted.size} audit events missing on the new master\n${cluster.brokers.map((broker) => broker.output()).join('\n').split('\n').filter((line) => /"level":"?(40|50|warn|error)/.test(line)).slice(0, 12).join('\n')}`)

    // Both replicas share the new master: a new key is minted once for both.
    const other = cluster.simulator.addTenant({ region: 'eu' })
    const afterwards = await steadyLoad(targets, [`/regions/eu/tenants/${other.id}/api/v1/users`], bearer(cluster.key), { workers: 10, requests: 100 }).done
    assert.deepEqual([...new Set(afterwards.map((outcome) => outcome.status))], [200])
    assert.equal(cluster.simulator.counters().mints[other.hostnames[0] ?? ''], 1, 'one mint for both replicas after the failover')

    const logs = cluster.brokers.map((broker) => broker.output()).join('\n')
    assertNoLeak({ logs }, [PASSWORD, SENTINEL_PASSWORD, ...cluster.simulator.issuedTokens(), 'cluster-eu-secret-0123456789'])
  })
})
