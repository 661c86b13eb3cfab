import { cpus, totalmem } from 'node:os'
import { startCluster, type Cluster } from '../test/support/cluster.js'
import { percentile, runLoad } from '../test/support/load.js'
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js'

/**
 * `npm run bench:tokens`: the token lifecycle's figures in one run, on this
 * machine, against real broker processes, a real redis-server and the Qlik
 * simulator. Targets: 1 mint per key per lifetime whatever K and M, 0
 * expired tokens sent, 0 failed requests in each fault scenario.
 */
const UNLIMITED = { tier1PerWindow: 10_000_000, tier2PerWindow: 10_000_000 }
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 60)
const LIFETIME_SECONDS = 10

function tenantPaths (cluster: Cluster): string[] {
  const eu = cluster.simulator.addTenant({ region: 'eu' })
  const us = cluster.simulator.addTenant({ region: 'us' })
  return [`/regions/eu/api/v1/tenants/${eu.id}`, `/regions/us/api/v1/tenants/${us.id}`, `/regions/eu/tenants/${eu.id}/api/v1/users`, `/regions/us/tenants/${us.id}/api/v1/users`]
}

const fmt = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : '-')

async function coldStart (redis: RedisServer, replicas: number, requests: number): Promise<string> {
  // Every request at once: the overload cap would answer some 503; the cold start is what is measured here.
  const cluster = await startCluster({ replicas, redis, simulator: { rateLimits: UNLIMITED }, env: { BROKER_MAX_IN_FLIGHT_REQUESTS: String(requests) } })
  try {
    const paths = tenantPaths(cluster)
    const result = await runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % paths.length] ?? '', headers: { authorization: `Bearer ${cluster.key}` }, concurrency: requests, requests })
    const mints = Object.values(cluster.simulator.counters().mints)
    return `| ${replicas} | ${requests} | ${mints.length} | ${Math.min(...mints)}–${Math.max(...mints)} | ${fmt(percentile(result.latenciesMs, 50))} | ${fmt(percentile(result.latenciesMs, 99))} | ${result.failed} |`
  } finally {
    await cluster.close()
  }
}

async function steady (redis: RedisServer): Promise<string> {
  const cluster = await startCluster({ replicas: 2, redis, env: { TOKEN_EXPIRY_MARGIN_SECONDS: '1' }, simulator: { tokenLifetimeSeconds: LIFETIME_SECONDS, rateLimits: UNLIMITED } })
  try {
    const paths = tenantPaths(cluster)
    const result = await runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % paths.length] ?? '', headers: { authorization: `Bearer ${cluster.key}` }, concurrency: 8, durationMs: STEADY_SECONDS * 1000, pauseMs: 20 })
    const counters = cluster.simulator.counters()
    const perKey = Object.values(counters.mints)
    return `| ${STEADY_SECONDS} s, ${LIFETIME_SECONDS} s tokens, 2 replicas | ${result.sent} | ${perKey.join(', ')} (expected ${1 + Math.floor(STEADY_SECONDS / (0.8 * LIFETIME_SECONDS))}–${1 + Math.ceil(STEADY_SECONDS / (0.6 * LIFETIME_SECONDS))}) | ${counters.expiredTokenRequests} | ${result.failed} | ${fmt(percentile(result.latenciesMs, 99))} |`
  } finally {
    await cluster.close()
  }
}

async function redisKill (redis: RedisServer): Promise<string> {
  const cluster = await startCluster({ replicas: 2, redis, simulator: { rateLimits: UNLIMITED } })
  try {
    const paths = tenantPaths(cluster)
    const load = runLoad({ targets: cluster.brokers.map((broker) => broker.url), path: (n) => paths[n % paths.length] ?? '', headers: { authorization: `Bearer ${cluster.key}` }, concurrency: 16, durationMs: 8_000, pauseMs: 5 })
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    await redis.stop()
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    await redis.start()
    const result = await load
    return `| redis-server killed for 3 s, 2 replicas | ${result.sent} | ${result.failed} | ${fmt(percentile(result.latenciesMs, 99))} |`
  } finally {
    await cluster.close()
  }
}

const redis = await startRedisServer()
try {
  const out: string[] = []
  out.push(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`)
  out.push('', '### Cold start: K replicas, M concurrent first requests over 4 keys (2 regions × register + tenant host)', '', '| K | M | keys | mints per key | p50 ms | p99 ms | failed |', '|---|---|---|---|---|---|---|')
  for (const replicas of [1, 4]) {
    for (const requests of [100, 2000]) out.push(await coldStart(redis, replicas, requests))
  }
  out.push('', '### Steady load with refresh-ahead', '', '| scenario | requests | mints per key | expired tokens sent | failed | p99 ms |', '|---|---|---|---|---|---|')
  out.push(await steady(redis))
  out.push('', '### Redis outage', '', '| scenario | requests | failed | p99 ms |', '|---|---|---|---|')
  out.push(await redisKill(redis))
  process.stdout.write(out.join('\n') + '\n')
} finally {
  await redis.close()
}
