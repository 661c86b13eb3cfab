import { cpus } from 'node:os'
import { Pool, request } from 'undici'
import { CLUSTER_CLIENTS, startCluster, type Cluster } from '../test/support/cluster.js'
import { percentile } from '../test/support/load.js'
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js'
import { createRedisRateBudget } from '../src/qlik/rate-budget.js'
import { captureLogs } from '../test/support/log-capture.js'

/**
 * `npm run bench:budget`: the Qlik rate budget against the simulator in
 * Qlik's shape (docs/benchmarks.md, "Rate budget"). Two figures:
 *  1. a burst of 100 GETs on an idle tenant host: p99 through the broker
 *     with Qlik's real limits, less p99 straight to the simulator (≤ 50 ms);
 *  2. 1.5 × Qlik's Tier 1 rate for 3 windows over 2 replicas, the window
 *     compressed 20× (5 min → 15 s, 5,000 → 250 requests: the same rate):
 *     share of Qlik's allowed throughput delivered (≥ 95 %) and 429s from Qlik (0).
 */
const BURST = 100
const BURST_ROUNDS = Number(process.env.BENCH_BURST_ROUNDS ?? 5)
const SCALE = 20
const WINDOW_MS = 300_000 / SCALE
const TIER1_PER_WINDOW = 5000 / SCALE
const WINDOWS = 3
const OVERLOAD = 1.5
/** Qlik's real window and limits, as the broker's defaults and the simulator's. */
const QLIK_SHAPE_ENV = { QLIK_TIER1_LIMIT: '5000/5m', QLIK_TIER2_LIMIT: '500/5m' }

const fmt = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : '-')
const log = (line: string): void => { process.stderr.write(`[bench:budget] ${line}\n`) }

interface Timed { status: number, ms: number }

async function timed (pool: Pool, path: string, headers: Record<string, string>): Promise<Timed> {
  const started = performance.now()
  const response = await pool.request({ method: 'GET', path, headers })
  await response.body.dump()
  return { status: response.statusCode, ms: performance.now() - started }
}

async function mintDirect (cluster: Cluster, host: string): Promise<string> {
  const client = CLUSTER_CLIENTS.find((c) => c.region === 'eu')
  // undici's request, not fetch: fetch does not let a caller set Host.
  const response = await request(`${cluster.simulator.url}/oauth/token`, {
    method: 'POST',
    headers: { host, 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: client?.clientId, client_secret: client?.clientSecret })
  })
  const body = await response.body.json() as { access_token?: string }
  if (response.statusCode !== 200 || body.access_token === undefined) throw new Error(`the simulator answered ${response.statusCode} to a token request on ${host}`)
  return body.access_token
}

/** Each round on a fresh (idle) tenant host: 100 concurrent GETs direct, then 100 through the broker. */
async function burst (redis: RedisServer, label: string, env: Record<string, string>): Promise<string> {
  const cluster = await startCluster({ replicas: 1, redis, env })
  try {
    const brokerPool = new Pool(cluster.brokers[0]?.url ?? '', { connections: BURST })
    const directPool = new Pool(cluster.simulator.url, { connections: BURST })
    const direct99: number[] = []
    const broker99: number[] = []
    let failed = 0
    for (let round = 0; round < BURST_ROUNDS; round++) {
      // Two fresh tenant hosts: one called directly with a token of its own, one through the broker.
      const direct = cluster.simulator.addTenant({ region: 'eu' })
      const directHost = direct.hostnames[0] ?? ''
      const directHeaders = { host: directHost, authorization: `Bearer ${await mintDirect(cluster, directHost)}` }
      const viaBroker = cluster.simulator.addTenant({ region: 'eu' })
      const brokerPath = `/regions/eu/tenants/${viaBroker.id}/api/v1/users`
      const callerHeaders = { authorization: `Bearer ${cluster.key}` }
      // The broker's token for the host minted first: the burst then measures the budget, not a mint.
      await timed(brokerPool, brokerPath, callerHeaders)
      const directRun = await Promise.all(Array.from({ length: BURST }, async () => await timed(directPool, '/api/v1/users', directHeaders)))
      const brokerRun = await Promise.all(Array.from({ length: BURST }, async () => await timed(brokerPool, brokerPath, callerHeaders)))
      failed += [...directRun, ...brokerRun].filter((answer) => answer.status !== 200).length
      direct99.push(percentile(directRun.map((answer) => answer.ms), 99))
      broker99.push(percentile(brokerRun.map((answer) => answer.ms), 99))
      log(`burst ${round + 1}/${BURST_ROUNDS}: p99 direct ${fmt(direct99.at(-1) ?? Number.NaN)} ms, broker ${fmt(broker99.at(-1) ?? Number.NaN)} ms`)
    }
    await Promise.all([brokerPool.close(), directPool.close()])
    const added = broker99.map((value, index) => value - (direct99[index] ?? 0)).sort((a, b) => a - b)
    const median = added[Math.floor(added.length / 2)] ?? Number.NaN
    return `| ${label} | ${direct99.map(fmt).join(', ')} | ${broker99.map(fmt).join(', ')} | ${fmt(median)} (worst ${fmt(added.at(-1) ?? Number.NaN)}) | ${failed} | ${cluster.simulator.counters().rateLimited} |`
  } finally {
    await cluster.close()
  }
}

/**
 * The budget alone, in this process against the same redis-server: how long
 * the 100th of 100 simultaneous reservations on an idle host waits for its
 * answer and for its slot, without the HTTP around it.
 */
async function budgetAlone (redis: RedisServer): Promise<string> {
  const waits: number[] = []
  const delays: number[] = []
  let roundTrips = 0
  const client = redis.client()
  const evalsha = client.evalsha.bind(client)
  client.evalsha = (async (...args: Parameters<typeof client.evalsha>) => { roundTrips++; return await evalsha(...args) }) as typeof client.evalsha
  const budget = createRedisRateBudget({ buckets: new Map([['tier1', { requests: 5000, windowMs: 300_000 }]]), maxWaitMs: 10_000, redis: client, keyPrefix: `bench-budget-${Date.now()}:`, logger: captureLogs('warn').logger })
  for (let round = 0; round < BURST_ROUNDS; round++) {
    const started = performance.now()
    const reservations = await Promise.all(Array.from({ length: BURST }, async () => { const r = await budget.reserve(`idle-${round}`, 'tier1'); return { r, ms: performance.now() - started } }))
    waits.push(...reservations.map((x) => x.ms))
    delays.push(...reservations.map((x) => x.r.granted ? x.r.delayMs : Number.POSITIVE_INFINITY))
  }
  client.disconnect()
  return `| budget alone (reserve() × ${BURST}, real Redis), ${BURST_ROUNDS} rounds | p99 time to the answer ${fmt(percentile(waits, 99))} ms | p99 delay before sending ${fmt(percentile(delays, 99))} ms | ${(roundTrips / (BURST * BURST_ROUNDS)).toFixed(2)} Redis round trips per request |`
}

/** Open loop at 1.5 × Qlik's rate, alternating two replicas, for three windows. */
async function sustained (redis: RedisServer, guessWindowStepMs: number): Promise<string> {
  const cluster = await startCluster({
    replicas: 2,
    redis,
    env: {
      QLIK_TIER1_LIMIT: `${TIER1_PER_WINDOW}/${WINDOW_MS}ms`,
      QLIK_TIER2_LIMIT: `${500 / SCALE}/${WINDOW_MS}ms`,
      QLIK_BUDGET_MAX_WAIT_MS: String(10_000 / SCALE),
      QLIK_BUDGET_SKEW_MS: '200'
    },
    simulator: { rateLimits: { tier1PerWindow: TIER1_PER_WINDOW, tier2PerWindow: 500 / SCALE, windowMs: WINDOW_MS, guessWindowStepMs } }
  })
  try {
    const tenant = cluster.simulator.addTenant({ region: 'eu' })
    const path = `/regions/eu/tenants/${tenant.id}/api/v1/users`
    const headers = { authorization: `Bearer ${cluster.key}` }
    const pools = cluster.brokers.map((broker) => new Pool(broker.url, { connections: 64 }))
    // Token and tenant host warm; the one request counts against the window like any other.
    await timed(pools[0] as Pool, path, headers)
    const counted = cluster.simulator.counters().requests['GET /api/v1/users'] ?? 0
    const intervalMs = WINDOW_MS / (OVERLOAD * TIER1_PER_WINDOW)
    const durationMs = WINDOWS * WINDOW_MS
    const answers: Array<Promise<Timed>> = []
    const started = performance.now()
    for (let n = 0; ; n++) {
      const due = started + n * intervalMs
      if (due - started >= durationMs) break
      const wait = due - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      answers.push(timed(pools[n % pools.length] as Pool, path, headers))
    }
    const results = await Promise.all(answers)
    await Promise.all(pools.map(async (pool) => await pool.close()))
    const ok = results.filter((answer) => answer.status === 200).length
    const refused = results.filter((answer) => answer.status === 429).length
    const other = results.length - ok - refused
    const qlik429 = cluster.simulator.counters().rateLimited
    const reachedQlik = (cluster.simulator.counters().requests['GET /api/v1/users'] ?? 0) - counted
    const allowed = WINDOWS * TIER1_PER_WINDOW
    const share = (ok + 1) / allowed
    log(`sustained (step ${guessWindowStepMs} ms): ${results.length} sent, ${ok} answered 200, ${refused} refused by the broker, ${qlik429} 429s from Qlik`)
    return `| ${guessWindowStepMs === 0 ? 'per ms (default)' : `${guessWindowStepMs} ms (guess)`} | ${results.length} | ${ok + 1} of ${allowed} = **${(share * 100).toFixed(1)} %** | ${refused} | **${qlik429}** | ${reachedQlik} | ${other} | ${fmt(percentile(results.filter((answer) => answer.status === 200).map((answer) => answer.ms), 99))} |`
  } finally {
    await cluster.close()
  }
}

const redis = await startRedisServer()
try {
  const out: string[] = [`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`]
  out.push('', `### Bursts of ${BURST} GETs at once on an idle tenant host (simulator in Qlik's shape: 5,000 Tier 1 per 5 minutes), ${BURST_ROUNDS} rounds`, '',
    '| broker budget | p99 direct, ms (per round) | p99 through the broker, ms (per round) | added p99, ms (median round) | non-200 | 429s from Qlik |', '|---|---|---|---|---|---|')
  // The same broker with a budget too large to ever hold anything back prices the proxying itself;
  // the difference between the two rows is what the budget adds.
  out.push(await burst(redis, 'Qlik\'s limits (5000/5m, 500/5m)', QLIK_SHAPE_ENV))
  out.push(await burst(redis, 'budget out of the way (10⁸/60s)', {}))
  out.push('', '| the budget alone | | | |', '|---|---|---|---|', await budgetAlone(redis))
  out.push('', `### ${OVERLOAD} × Qlik's Tier 1 rate for ${WINDOWS} windows, 2 replicas (window 5 min → ${WINDOW_MS / 1000} s, ${TIER1_PER_WINDOW} per window)`, '',
    '| simulator slides its window | requests sent | answered 200 (incl. warm-up) of Qlik\'s allowed | refused by the broker (429) | 429s from Qlik | requests that reached Qlik | other | p99 of the 200s, ms |', '|---|---|---|---|---|---|---|---|')
  for (const step of [0, 100]) out.push(await sustained(redis, step))
  process.stdout.write(out.join('\n') + '\n')
} finally {
  await redis.close()
}
