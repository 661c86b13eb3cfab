import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { parse as parseYaml } from 'yaml'
import { apiKey, seedTenant, startBenchSimulator, writeBenchSecrets } from './lib/bench-qlik.js'
import { benchBrokerEnv } from './lib/broker-env.js'
import { buildBroker, ROOT } from './lib/build.js'
import { runAutocannon, type LoadTarget } from './lib/load.js'
import { freePort, httpOk, killAllStarted, startProcess, startRedis, waitFor, type Proc } from './lib/processes.js'
import { memoryMiB } from './lib/procfs.js'

/**
 * `npm run bench:memory`: the broker as the Helm chart runs it by default
 * (the chart's memory limit and the NODE_OPTIONS it derives from it, see
 * helm/qlik-broker/values.yaml) under many active connections, with its
 * RSS watched against that limit. Reports VmHWM under load, not idle.
 * `npm run bench` runs it too (bench/run.ts calls `memoryScenarios`).
 *
 *   npm run bench:memory                               # 1,000 connections for 30 s, then a 3,000-connection burst
 *   npm run bench:memory -- --seconds 10 --burst 5000
 *   npm run bench:memory -- --node-options=--max-semi-space-size=16     # other NODE_OPTIONS than the chart's
 *   BENCH_MEMORY_NODE_ARGS=--trace-gc BENCH_MEMORY_KEEP_LOG=/tmp/broker.log npm run bench:memory   # a closer look
 *
 * No cgroup is created here: the limit is enforced the way it bites in the
 * pod, on RSS (the kernel OOM-kills on the cgroup's memory, which for this
 * one process is its RSS plus a little page cache), and the heap flags are
 * the ones the chart renders for that limit.
 */

export interface LoadResult {
  /** 2xx answers per second over the run. */
  rps: number
  requests: number
  non2xx: number
  /** Connection errors other than timeouts (refused, reset). */
  errors: number
  /** Requests not answered within 10 s. */
  timeouts: number
}

/** autocannon's closed loop (its own process), keeping connection errors and timeouts apart. */
async function load (target: LoadTarget, options: { connections: number, seconds: number }): Promise<LoadResult> {
  const json = await runAutocannon(target, options)
  // autocannon counts each timeout among its errors too.
  return { rps: json['2xx'] / (json.duration || options.seconds), requests: json.requests.total, non2xx: json.non2xx, errors: json.errors - json.timeouts, timeouts: json.timeouts }
}

export interface MemoryRun {
  name: string
  connections: number
  seconds: number
  limitMiB: number
  nodeOptions: string
  load: LoadResult
  /** VmHWM once the load has run: the peak of the whole process life, reached under the load. */
  peakMiB: number
  /** VmRSS sampled every 100 ms during the load: the highest and the last. */
  rssMaxMiB: number
  rssEndMiB: number
  /** 503 answers (the overload cap) among the load's non-2xx. */
  overloaded: number
  /** /readyz probes sent during the load, one every 500 ms on a connection of their own, and how many answered 200. */
  probes: { sent: number, ok: number }
  /** A request after the load, on a fresh connection: 200? */
  answersAfter: boolean
  alive: boolean
  heap: { limitMiB: number } | undefined
  pass: boolean
}

export interface MemoryTarget {
  /** Folder holding server.js (a bench build). */
  dist: string
  env: Record<string, string>
  route: Omit<LoadTarget, 'origin'>
}

interface ChartMemoryValues {
  resources: { limits: { memory: string } }
  memory: { maxOldSpacePercentage: number, maxSemiSpaceMiB: number, mallocArenaMax: number, extraNodeOptions: string, maxInFlightRequests: number, maxInFlightBodyBytes: number, maxConnections: number, logBufferBytes: number }
}

/**
 * The chart's default memory limit and what its template renders for it
 * (helm/qlik-broker/values.yaml, templates/deployment.yaml): NODE_OPTIONS
 * with `--max-old-space-size-percentage`, which Node resolves against the
 * cgroup's limit; with no cgroup here, the same share of the limit is given
 * in MiB, as Node computes it (whole MiB of the limit × percentage / 100,
 * rounded down; docs/deploy-helm.md, "Memory").
 */
export function chartDefaults (): { limitMiB: number, nodeOptions: string, env: Record<string, string> } {
  const values = parseYaml(readFileSync(join(ROOT, 'helm', 'qlik-broker', 'values.yaml'), 'utf8')) as ChartMemoryValues
  const limit = /^(\d+)Mi$/.exec(values.resources.limits.memory)
  if (limit === null) throw new Error(`values.yaml: resources.limits.memory ${values.resources.limits.memory} is not in Mi`)
  const limitMiB = Number(limit[1])
  const { memory } = values
  const nodeOptions = [`--max-old-space-size=${Math.floor(limitMiB * memory.maxOldSpacePercentage / 100)}`, `--max-semi-space-size=${memory.maxSemiSpaceMiB}`, memory.extraNodeOptions].filter((option) => option !== '').join(' ')
  const env: Record<string, string> = {
    BROKER_MAX_IN_FLIGHT_REQUESTS: String(memory.maxInFlightRequests),
    BROKER_MAX_IN_FLIGHT_BODY_BYTES: String(memory.maxInFlightBodyBytes),
    BROKER_MAX_CONNECTIONS: String(memory.maxConnections),
    LOG_BUFFER_MAX_BYTES: String(memory.logBufferBytes)
  }
  if (memory.mallocArenaMax > 0) env.MALLOC_ARENA_MAX = String(memory.mallocArenaMax)
  return { limitMiB, nodeOptions, env }
}

const log = (message: string): void => { process.stderr.write(`[bench:memory ${new Date().toISOString().slice(11, 19)}] ${message}\n`) }

async function overloadedCount (origin: string): Promise<number> {
  const text = await fetch(`${origin}/metrics`).then(async (response) => await response.text()).catch(() => '')
  const line = text.split('\n').find((entry) => entry.startsWith('qlik_broker_overload_rejected_total'))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

async function oneRun (target: MemoryTarget, options: { name: string, connections: number, seconds: number, limitMiB: number, nodeOptions: string, chartEnv: Record<string, string>, logFile: string }): Promise<MemoryRun> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const proc = startProcess(`qlik-broker (${options.name})`, process.execPath, [...(process.env.BENCH_MEMORY_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== ''), join(target.dist, 'server.js')], {
    // The chart's settings first: the target's own env (and --env) may override them to try others.
    env: { ...options.chartEnv, ...target.env, BROKER_PORT: String(port), NODE_OPTIONS: options.nodeOptions },
    logFile: options.logFile
  })
  try {
    await waitFor('/readyz 200', proc, async () => await httpOk(`${origin}/readyz`))
    await waitFor(`200 on ${target.route.path}`, proc, async () => await httpOk(`${origin}${target.route.path}`, target.route.headers), 20_000, 50)
    const heapLine = /"heapLimitMiB":(\d+)/.exec(readFileSync(options.logFile, 'utf8'))
    let rssMax = 0
    let over = false
    let overPeak = 0
    const sampler = setInterval(() => {
      const { rss } = memoryMiB(proc.pid)
      rssMax = Math.max(rssMax, rss)
      // What the kernel would do at the limit: the pod is gone.
      if (rss > options.limitMiB && !over) {
        over = true
        overPeak = memoryMiB(proc.pid).peak
        log(`  RSS ${rss.toFixed(0)} MiB is over the ${options.limitMiB} MiB limit: killing the broker as the OOM killer would`)
        proc.child.kill('SIGKILL')
      }
    }, 100)
    const probes = { sent: 0, ok: 0 }
    const probing = { on: true }
    const prober = (async () => {
      while (probing.on) {
        probes.sent++
        const ok = await request(`${origin}/readyz`, { headersTimeout: 2000, bodyTimeout: 2000 }).then(async (response) => { await response.body.dump(); return response.statusCode === 200 }).catch(() => false)
        if (ok) probes.ok++
        await sleep(500)
      }
    })()
    const rejectedBefore = await overloadedCount(origin)
    log(`${options.name}: ${options.connections.toLocaleString('en-US')} connections for ${options.seconds} s (NODE_OPTIONS=${options.nodeOptions || '(none)'})`)
    const result = await load({ origin, ...target.route }, { connections: options.connections, seconds: options.seconds })
    probing.on = false
    await prober
    clearInterval(sampler)
    const alive = proc.child.exitCode === null && proc.child.signalCode === null
    const { rss: rssEnd, peak: peakNow } = memoryMiB(proc.pid)
    const peak = over ? overPeak : peakNow
    if (process.env.BENCH_MEMORY_KEEP_LOG !== undefined) writeFileSync(process.env.BENCH_MEMORY_KEEP_LOG, readFileSync(options.logFile))
    const answersAfter = alive && await httpOk(`${origin}${target.route.path}`, target.route.headers).catch(() => false)
    const overloaded = alive ? await overloadedCount(origin) - rejectedBefore : 0
    const pass = alive && !over && peak <= options.limitMiB && answersAfter && result.rps > 0 && probes.ok === probes.sent
    const run: MemoryRun = {
      name: options.name,
      connections: options.connections,
      seconds: options.seconds,
      limitMiB: options.limitMiB,
      nodeOptions: options.nodeOptions,
      load: result,
      peakMiB: peak,
      rssMaxMiB: rssMax,
      rssEndMiB: rssEnd,
      overloaded,
      probes,
      answersAfter,
      alive,
      heap: heapLine === null ? undefined : { limitMiB: Number(heapLine[1]) },
      pass
    }
    log(`  ${Math.round(result.rps)} req/s 2xx, ${result.non2xx} non-2xx (${overloaded} overload 503), ${result.errors} connection errors, ${result.timeouts} timeouts; VmHWM ${peak.toFixed(0)} MiB, RSS max ${rssMax.toFixed(0)} MiB; /readyz ${probes.ok}/${probes.sent}; ${pass ? 'PASS' : 'FAIL'}`)
    return run
  } finally {
    await proc.stop()
  }
}

/** The memory scenarios on one built broker: `connections` for `seconds`, then a burst. */
export async function memoryScenarios (target: MemoryTarget, options: { connections?: number, seconds?: number, burst?: number, burstSeconds?: number, nodeOptions?: string | undefined, limitMiB?: number | undefined, dir: string }): Promise<MemoryRun[]> {
  const chart = { ...chartDefaults(), ...(options.limitMiB === undefined ? {} : { limitMiB: options.limitMiB }) }
  const nodeOptions = options.nodeOptions ?? chart.nodeOptions
  const runs: MemoryRun[] = []
  runs.push(await oneRun(target, { name: 'active connections', connections: options.connections ?? 1000, seconds: options.seconds ?? 30, limitMiB: chart.limitMiB, nodeOptions, chartEnv: chart.env, logFile: join(options.dir, 'memory-active.log') }))
  if ((options.burst ?? 0) > 0) {
    runs.push(await oneRun(target, { name: 'burst', connections: options.burst ?? 0, seconds: options.burstSeconds ?? 15, limitMiB: chart.limitMiB, nodeOptions, chartEnv: chart.env, logFile: join(options.dir, 'memory-burst.log') }))
  }
  return runs
}

export function renderMemorySection (runs: readonly MemoryRun[]): string {
  const lines = ['## Memory under 1,000 active connections', '']
  const first = runs[0]
  if (first !== undefined) lines.push(`The broker at the chart's default memory limit (${first.limitMiB} MiB, watched on RSS: over it, the bench kills the broker as the OOM killer would) with the chart's settings (NODE_OPTIONS \`${first.nodeOptions || '(none)'}\`${first.heap === undefined ? '' : `, V8 heap limit ${first.heap.limitMiB} MiB`}; caps from values.yaml); bench/memory.ts. VmHWM is the broker's peak RSS over its life, read right after the load.`, '')
  lines.push('| scenario | connections | seconds | VmHWM MiB | RSS max MiB | 2xx req/s | 503 overload | other non-2xx | connection errors | timeouts | /readyz ok | answers after | result |')
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|')
  for (const run of runs) {
    lines.push(`| ${run.name} | ${run.connections.toLocaleString('en-US')} | ${run.seconds} | ${run.peakMiB.toFixed(0)} | ${run.rssMaxMiB.toFixed(0)} | ${Math.round(run.load.rps).toLocaleString('en-US')} | ${run.overloaded.toLocaleString('en-US')} | ${Math.max(0, run.load.non2xx - run.overloaded).toLocaleString('en-US')} | ${run.load.errors.toLocaleString('en-US')} | ${run.load.timeouts.toLocaleString('en-US')} | ${run.probes.ok}/${run.probes.sent} | ${run.answersAfter ? 'yes' : 'no'} | ${run.pass ? `**PASS**: stayed under ${run.limitMiB} MiB and kept answering` : `**FAIL**${run.alive ? '' : ': killed at the limit'}`} |`)
  }
  lines.push('', '503 overload: answered at once by the broker\'s cap (`qlik_broker_overload_rejected_total`, counted by the broker, so it includes answers on connections autocannon had already given up). Connection errors: refused or reset connections; timeouts: requests autocannon saw no answer to within 10 s (on this shared 2-core machine, mostly connections still waiting to be accepted while the load generator and the broker share the cores). /readyz: one probe every 500 ms on a connection of its own; PASS needs every one answered, a 2xx after the load, and VmHWM under the limit.')
  return lines.join('\n') + '\n'
}

// --- stand-alone: its own simulator, Redis and broker build -------------------------------------

async function standalone (): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      connections: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '30' },
      burst: { type: 'string', default: '3000' },
      'burst-seconds': { type: 'string', default: '15' },
      'node-options': { type: 'string' },
      'limit-mib': { type: 'string' },
      env: { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: join(ROOT, 'bench', 'results', 'memory.md') }
    }
  })
  const dir = mkdtempSync(join(tmpdir(), 'qlik-broker-bench-memory-'))
  const redis = await startRedis()
  let simulator: Proc | undefined
  try {
    log('building the broker (work tree) with tsc')
    const built = buildBroker()
    const sim = await startBenchSimulator(built.dist)
    simulator = sim.proc
    const { tenantId } = await seedTenant(sim.origin)
    writeBenchSecrets(dir)
    const { key, hash } = apiKey()
    writeFileSync(join(dir, 'broker-config.json'), JSON.stringify({ callers: [{ name: 'bench', apiKeyHashes: [hash], grants: [{ regions: ['eu'], actions: ['tenants:read'] }] }] }))
    const env = {
      ...benchBrokerEnv({ dir, simOrigin: sim.origin, redisUrl: redis.url, keyPrefix: 'qb-bench-memory:' }),
      ...Object.fromEntries((args.env ?? []).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]))
    }
    const runs = await memoryScenarios(
      { dist: built.dist, env, route: { path: `/regions/eu/api/v1/tenants/${tenantId}`, headers: { authorization: `Bearer ${key}` } } },
      { connections: Number(args.connections), seconds: Number(args.seconds), burst: Number(args.burst), burstSeconds: Number(args['burst-seconds']), nodeOptions: args['node-options'], limitMiB: args['limit-mib'] === undefined ? undefined : Number(args['limit-mib']), dir }
    )
    const report = `${renderMemorySection(runs)}\nBuilt from ${built.label} (${built.commit}${built.dirtyFiles > 0 ? `, ${built.dirtyFiles} files changed under src/` : ''}), ${new Date().toISOString()}.\n`
    process.stdout.write(report)
    const out = args.out ?? join(ROOT, 'bench', 'results', 'memory.md')
    mkdirSync(join(out, '..'), { recursive: true })
    writeFileSync(out, report)
    if (runs.some((run) => !run.pass)) process.exitCode = 1
  } finally {
    await simulator?.stop()
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { killAllStarted(); process.exit(130) })
  }
  try {
    await standalone()
  } finally {
    killAllStarted()
  }
}
