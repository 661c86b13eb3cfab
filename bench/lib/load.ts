import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from './build.js'
import { track } from './processes.js'

/** One HTTP target as the load generator sees it. */
export interface LoadTarget {
  origin: string
  path: string
  headers: Record<string, string>
}

export interface SaturationResult {
  /** 2xx answers per second over the run. */
  rps: number
  requests: number
  non2xx: number
  errors: number
  latencyMs: { p50: number, p99: number, p999: number }
}

const AUTOCANNON = join(ROOT, 'node_modules', 'autocannon', 'autocannon.js')

export interface AutocannonJson {
  duration: number
  /** Connection errors, timeouts included. */
  errors: number
  timeouts: number
  non2xx: number
  '2xx': number
  requests: { total: number }
  latency: { p50: number, p99: number, p99_9: number }
}

/** One closed-loop autocannon run in its own process (10 s request timeout): its JSON summary. */
export async function runAutocannon (target: LoadTarget, options: { connections: number, seconds: number }): Promise<AutocannonJson> {
  const args = [AUTOCANNON, '--json', '--connections', String(options.connections), '--duration', String(options.seconds), '--timeout', '10']
  for (const [name, value] of Object.entries(target.headers)) args.push('--headers', `${name}=${value}`)
  args.push(`${target.origin}${target.path}`)
  const stdout = await new Promise<string>((resolve, reject) => {
    track(execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024, timeout: (options.seconds + 60) * 1000 }, (error, out, err) => {
      if (error !== null) reject(new Error(`autocannon failed: ${error.message}\n${err}`))
      else resolve(out)
    }))
  })
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as AutocannonJson
}

/** Closed loop with `connections` keep-alive connections: the target's req/s at saturation. */
export async function autocannon (target: LoadTarget, options: { connections: number, seconds: number }): Promise<SaturationResult> {
  const json = await runAutocannon(target, options)
  const ok = json['2xx']
  return {
    rps: ok / (json.duration || options.seconds),
    requests: json.requests.total,
    non2xx: json.non2xx,
    errors: json.errors,
    latencyMs: { p50: json.latency.p50, p99: json.latency.p99, p999: json.latency.p99_9 }
  }
}

export interface RateResult {
  requested: number
  sent: number
  completed: number
  failed: number
  statuses: Record<string, number>
  achievedRate: number
  maxInFlight: number
  latencyMs: { p50: number, p90: number, p99: number, p999: number, max: number }
  generatorLagMs: { p50: number, p99: number }
}

/** Open loop at a fixed rate (bench/load-worker.ts in its own process). */
export async function fixedRate (worker: string, target: LoadTarget, options: { rate: number, seconds: number, warmupSeconds: number, connections: number }): Promise<RateResult> {
  const config = { mode: 'rate', origin: target.origin, path: target.path, headers: target.headers, rate: options.rate, durationMs: options.seconds * 1000, warmupMs: options.warmupSeconds * 1000, connections: options.connections }
  const stdout = await new Promise<string>((resolve, reject) => {
    // Raised priority (root only; elsewhere nice just warns) so the generator's own
    // scheduling delays, not the target's, do not show up as latency.
    track(execFile('nice', ['-n', '-10', process.execPath, worker, JSON.stringify(config)], { maxBuffer: 16 * 1024 * 1024, timeout: (options.seconds + options.warmupSeconds + 60) * 1000 }, (error, out, err) => {
      if (error !== null) reject(new Error(`load worker failed: ${error.message}\n${err}`))
      else resolve(out)
    }))
  })
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as RateResult
}

/** Opens `count` keep-alive connections (one request each) and holds them while `whileOpen` runs. */
export async function withIdleConnections<T> (worker: string, target: { host: string, port: number, path: string, headers: Record<string, string> }, count: number, whileOpen: (opened: { open: number, failed: number }) => Promise<T>): Promise<T> {
  const child = track(spawn(process.execPath, [worker, JSON.stringify({ mode: 'idle', count, ...target })], { stdio: ['pipe', 'pipe', 'pipe'] }))
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const opened = await new Promise<{ open: number, failed: number }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const line = stdout.split('\n')[0]
      if (stdout.includes('\n') && line !== undefined) resolve(JSON.parse(line) as { open: number, failed: number })
    })
    child.once('exit', (code) => { reject(new Error(`idle-connection worker exited with ${code}: ${stderr}`)) })
  })
  try {
    return await whileOpen(opened)
  } finally {
    const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
    child.stdin.end()
    await exited
  }
}
