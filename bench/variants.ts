import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { apiKey, REGISTER_HOST, seedTenant, startBenchSimulator, writeBenchSecrets } from './lib/bench-qlik.js'
import { benchBrokerEnv } from './lib/broker-env.js'
import { buildBroker, transpileBenchFile } from './lib/build.js'
import { autocannon, fixedRate } from './lib/load.js'
import { firstJsonLine, freePort, httpOk, killAllStarted, startProcess, startRedis, waitFor, type Proc } from './lib/processes.js'
import { inTurn } from './lib/run-order.js'
import { totalCpuMs } from './lib/procfs.js'
import { median } from './lib/stats.js'

/**
 * `npm run bench:variants -- <name>:<ENV=value;…>…`: the work tree's broker
 * started once per variant, each with its own environment (and node flags
 * from `NODE_ARGS`), beside the bare proxy, all in front of one simulator and
 * one Redis, measured in interleaved runs: CPU per request split by thread
 * (the main thread, V8's GC workers, libuv's pool) at saturation, or the
 * open-loop latency at `--rate`. For pricing one setting or one feature
 * against another before `npm run bench` measures the chosen one:
 *
 *   npm run bench:variants -- 'all:' 'quiet:LOG_LEVEL=warn' 'no-redis:REDIS_URL=;CACHE_ENCRYPTION_KEYS='
 *   npm run bench:variants -- 'chart:NODE_ARGS=--max-old-space-size=64 --max-semi-space-size=3' 'semi1:NODE_ARGS=--max-old-space-size=64 --max-semi-space-size=1'
 *   npm run bench:variants -- --route users-me --rate 1000 'all:' 'no-cache:REGISTRY_CACHE_SECONDS=0'
 *   npm run bench:variants -- 'heap:NODE_ARGS=--heap-prof --heap-prof-dir /tmp/heap'   # variants stop cleanly, so profiles are written
 *   npm run bench:variants -- --route users-me 'now:' 'before:BUILD=3f80d39'            # BUILD: that commit's broker instead of the work tree's
 *   npm run bench:variants -- --route users-me --warm-route tenant 'now:' 'before:BUILD=3f80d39'   # 8 s on the tenant route first
 *   npm run bench:variants -- --route users-me 'file:' 'fifo:LOG_VIA=fifo'   # the log written through a FIFO, as a container runtime reads it
 *   npm run bench:variants -- --bare-node-args='--cpu-prof --cpu-prof-dir /tmp/bare' 'all:NODE_ARGS=--cpu-prof --cpu-prof-dir /tmp/all'
 */
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    route: { type: 'string', default: 'tenant' },
    'warm-route': { type: 'string' },
    'bare-node-args': { type: 'string', default: '' },
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    rate: { type: 'string' },
    syscalls: { type: 'boolean', default: false },
    'keep-logs': { type: 'string' }
  }
})

interface Variant { name: string, env: Record<string, string>, nodeArgs: string[], build: string | undefined, logVia: 'file' | 'fifo' }

function parseVariant (text: string): Variant {
  const colon = text.indexOf(':')
  const name = colon === -1 ? text : text.slice(0, colon)
  const env: Record<string, string> = {}
  for (const pair of (colon === -1 ? '' : text.slice(colon + 1)).split(';').filter((entry) => entry !== '')) {
    const equals = pair.indexOf('=')
    if (equals === -1) throw new Error(`"${pair}" in variant ${name}: expected NAME=value`)
    env[pair.slice(0, equals)] = pair.slice(equals + 1)
  }
  const { NODE_ARGS: nodeArgs = '', BUILD: build, LOG_VIA: logVia = 'file', ...rest } = env
  if (logVia !== 'file' && logVia !== 'fifo') throw new Error(`LOG_VIA=${logVia} in variant ${name}: expected file or fifo`)
  return { name, env: rest, nodeArgs: nodeArgs.split(' ').filter((arg) => arg !== ''), build, logVia }
}

const variants = positionals.map(parseVariant)
if (variants.length === 0) {
  process.stderr.write('usage: npm run bench:variants -- [--route tenant|users-me] [--warm-route tenant|users-me] [--rate N] [--bare-node-args=ARGS] <name>:<ENV=value;…>…\n')
  process.exit(2)
}
const SECONDS = Number(args.seconds)
const RUNS = Number(args.runs)
const CLOCK_TICK_MS = 10

type ThreadCpu = Map<string, { userMs: number, systemMs: number }>

/** CPU so far of each of a process's threads, by role: main, V8Worker (GC, compilation), libuv-worker (fs, dns, crypto). */
function threadCpu (pid: number): ThreadCpu {
  const byRole: ThreadCpu = new Map()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
    const role = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const entry = byRole.get(role) ?? { userMs: 0, systemMs: 0 }
    entry.userMs += Number(fields[11]) * CLOCK_TICK_MS
    entry.systemMs += Number(fields[12]) * CLOCK_TICK_MS
    byRole.set(role, entry)
  }
  return byRole
}

interface Running { name: string, proc: Proc, origin: string }

/**
 * System calls of every thread of a target while it answers one saturation
 * run, by name (`strace -c`): on this VM a system call costs microseconds, so
 * their number per request is a cost the CPU profile shows only as "native".
 * strace slows the target; the counts, not its speed, are the figure.
 */
async function countSyscalls (target: Running, path: string, headers: Record<string, string>): Promise<{ requests: number, calls: Map<string, number> }> {
  const out = join(dir, `${target.name.replace(/[^a-z0-9]/gi, '_')}.strace`)
  const tids = readdirSync(`/proc/${target.proc.pid}/task`)
  const strace = spawn('strace', ['-c', '-f', '-o', out, ...tids.flatMap((tid) => ['-p', tid])], { stdio: 'ignore' })
  await new Promise((resolve) => setTimeout(resolve, 500))
  const result = await autocannon({ origin: target.origin, path, headers }, { connections: 50, seconds: SECONDS })
  const exited = new Promise((resolve) => strace.once('exit', resolve))
  strace.kill('SIGINT')
  await exited
  const calls = new Map<string, number>()
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const columns = line.trim().split(/\s+/)
    if (columns.length >= 5 && /^\d/.test(columns[0] ?? '') && columns.at(-1) !== 'total') calls.set(columns.at(-1) ?? '', Number(columns[3]))
  }
  return { requests: Math.round(result.rps * SECONDS), calls }
}

const built = buildBroker(undefined)
const bare = transpileBenchFile('bare-proxy')
const dir = mkdtempSync(join(tmpdir(), 'qlik-broker-variants-'))
const redis = await startRedis()
const running: Running[] = []
try {
  const sim = await startBenchSimulator(built.dist)
  const { tenantId, tenantHost, registerToken, tenantToken, botUserPath } = await seedTenant(sim.origin)
  writeBenchSecrets(dir)
  const { key, hash } = apiKey()
  writeFileSync(join(dir, 'broker-config.json'), JSON.stringify({ callers: [{ name: 'bench', apiKeyHashes: [hash], grants: [{ regions: ['eu'], actions: ['tenants:read'], tenantApi: ['GET|POST /api/v1/users/**'] }] }] }))
  const env = benchBrokerEnv({ dir, simOrigin: sim.origin, redisUrl: redis.url, keyPrefix: 'qb-variants:' })
  const pathOf = (route: string | undefined): string => route === 'users-me' ? `/regions/eu/tenants/${tenantHost}${botUserPath}` : `/regions/eu/api/v1/tenants/${tenantId}`
  const path = pathOf(args.route)
  const headers = { authorization: `Bearer ${key}` }

  const bareProc = startProcess('bare', process.execPath, [...(args['bare-node-args'] ?? '').split(' ').filter((arg) => arg !== ''), bare], { env: { BARE_PROXY_CONFIG: JSON.stringify({ port: 0, upstream: sim.origin, registerHost: REGISTER_HOST, registerToken, tenantId, tenantHost, tenantToken }) } })
  running.push({ name: '(b) bare proxy', proc: bareProc, origin: `http://127.0.0.1:${Number((await firstJsonLine(bareProc)).port)}` })
  for (const variant of variants) {
    const port = await freePort()
    const dist = variant.build === undefined ? built.dist : buildBroker(variant.build).dist
    const proc = startProcess(variant.name, process.execPath, [...variant.nodeArgs, join(dist, 'server.js')], { env: { ...env, BROKER_PORT: String(port), ...variant.env }, logFile: join(dir, `${variant.name}.log`), logVia: variant.logVia })
    const origin = `http://127.0.0.1:${port}`
    await waitFor('/readyz 200', proc, async () => await httpOk(`${origin}/readyz`))
    await waitFor(`200 on ${path}`, proc, async () => await httpOk(`${origin}${path}`, headers), 20_000, 50)
    running.push({ name: variant.name, proc, origin })
  }
  // A broker serves every route at once: load on another route first shows what that does to this one's cost.
  if (args['warm-route'] !== undefined) for (const target of running) await autocannon({ origin: target.origin, path: pathOf(args['warm-route']), headers }, { connections: 50, seconds: 8 })
  for (const target of running) await autocannon({ origin: target.origin, path, headers }, { connections: 50, seconds: 2 })

  if (args.syscalls) {
    for (const target of running) {
      const counts = await countSyscalls(target, path, headers)
      const perRequest = [...counts.calls].sort((a, b) => b[1] - a[1]).filter(([, calls]) => calls / counts.requests >= 0.01).map(([name, calls]) => `${name} ${(calls / counts.requests).toFixed(2)}`).join(', ')
      process.stdout.write(`${target.name.padEnd(16)} system calls per request (strace -c, every thread, ${counts.requests} requests): ${perRequest}\n`)
    }
  } else if (args.rate !== undefined) {
    const worker = transpileBenchFile('load-worker')
    const rate = Number(args.rate)
    for (let run = 0; run < RUNS; run++) {
      for (const target of inTurn(running, run)) {
        const result = await fixedRate(worker, { origin: target.origin, path, headers }, { rate, seconds: SECONDS, warmupSeconds: 0.5, connections: 64 })
        const { p50, p90, p99, p999, max } = result.latencyMs
        process.stdout.write(`${target.name.padEnd(16)} ${rate}/s run ${run + 1}: p50 ${p50.toFixed(2)} p90 ${p90.toFixed(2)} p99 ${p99.toFixed(2)} p99.9 ${p999.toFixed(2)} max ${max.toFixed(2)} ms (generator lag p99 ${result.generatorLagMs.p99.toFixed(2)} ms)\n`)
      }
    }
  } else {
    /** Each target's requests and CPU by thread role; the CPU of its log's reader (LOG_VIA=fifo) is kept apart: in a pod it is the container runtime's. */
    const totals = new Map<string, { requests: number, cpu: ThreadCpu, logReaderMs: number }>()
    /** CPU µs per request of each target in each run, by run index. */
    const perRun = new Map<string, number[]>()
    for (let run = 0; run < RUNS; run++) {
      for (const target of inTurn(running, run)) {
        const reader = target.proc.logReaderPid
        const before = threadCpu(target.proc.pid)
        const readerBefore = reader === undefined ? 0 : totalCpuMs([reader])
        const result = await autocannon({ origin: target.origin, path, headers }, { connections: 50, seconds: SECONDS })
        const after = threadCpu(target.proc.pid)
        const total = totals.get(target.name) ?? { requests: 0, cpu: new Map(), logReaderMs: 0 }
        total.requests += result.rps * SECONDS
        if (reader !== undefined) total.logReaderMs += totalCpuMs([reader]) - readerBefore
        let runMs = 0
        for (const [role, used] of after) {
          const was = before.get(role) ?? { userMs: 0, systemMs: 0 }
          const sum = total.cpu.get(role) ?? { userMs: 0, systemMs: 0 }
          total.cpu.set(role, { userMs: sum.userMs + used.userMs - was.userMs, systemMs: sum.systemMs + used.systemMs - was.systemMs })
          runMs += used.userMs - was.userMs + used.systemMs - was.systemMs
        }
        perRun.set(target.name, [...(perRun.get(target.name) ?? []), runMs * 1000 / (result.rps * SECONDS)])
        totals.set(target.name, total)
        process.stderr.write(`${target.name} run ${run + 1}: ${Math.round(result.rps)} req/s\n`)
      }
    }
    process.stdout.write(`${args.route} route, ${RUNS} × ${SECONDS} s at 50 connections, CPU µs per request (user/system per thread role):\n`)
    for (const [name, { requests, cpu, logReaderMs }] of totals) {
      const perRequest = (ms: number): string => (ms * 1000 / requests).toFixed(0)
      const all = [...cpu.values()].reduce((sum, used) => sum + used.userMs + used.systemMs, 0)
      const roles = [...cpu].filter(([, used]) => used.userMs + used.systemMs > 0).map(([role, used]) => `${role} ${perRequest(used.userMs)}/${perRequest(used.systemMs)}`).join(', ')
      const readerNote = logReaderMs > 0 ? `; its log's reader (cat, as the container runtime) ${perRequest(logReaderMs)} µs/req more` : ''
      process.stdout.write(`${name.padEnd(16)} ${Math.round(requests / RUNS / SECONDS).toString().padStart(6)} req/s ${(all * 1000 / requests).toFixed(1).padStart(7)} µs/req   ${roles}${readerNote}\n`)
    }
    process.stdout.write(roundRatios(perRun, running[0]?.name ?? ''))
  }
} finally {
  // A clean stop, so a variant's NODE_ARGS=--cpu-prof or --heap-prof writes its profile.
  await Promise.all(running.map(async (target) => { await target.proc.stop('SIGTERM') }))
  killAllStarted()
  await redis.stop()
  // Each variant's stdout (its log lines, and what NODE_ARGS=--trace-gc prints) for reading after the run.
  if (args['keep-logs'] !== undefined) for (const variant of variants) cpSync(join(dir, `${variant.name}.log`), join(args['keep-logs'], `${variant.name}.log`))
  rmSync(dir, { recursive: true, force: true })
}

/**
 * Each variant against the bare proxy of the same round, as the median of
 * the per-round ratios: a drift of the machine's speed over the runs moves
 * both sides of a ratio. Rounds in the listed order and in reverse are
 * shown apart, so the position effect (docs/benchmarks.md, round 6) shows
 * in the run itself.
 */
function roundRatios (perRun: ReadonlyMap<string, readonly number[]>, bareName: string): string {
  const bare = perRun.get(bareName) ?? []
  const lines = ['median per round, CPU µs/request against (b) of the same round (all rounds; listed order; reversed):\n']
  for (const [name, runs] of perRun) {
    if (name === bareName) continue
    const ratios = runs.map((us, run) => us / (bare[run] ?? Number.NaN))
    const ratiosIn = (order: number): number[] => ratios.filter((_, run) => run % 2 === order)
    lines.push(`${name.padEnd(16)} ${median(runs).toFixed(1).padStart(7)} µs/req  ${median(ratios).toFixed(3)} × (b)  ${median(ratiosIn(0)).toFixed(3)}; ${median(ratiosIn(1)).toFixed(3)}\n`)
  }
  return lines.join('')
}
