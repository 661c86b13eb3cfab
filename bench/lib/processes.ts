import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { freePort } from '../../test/support/free-port.js'
import { once } from 'node:events'
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { childPids } from './procfs.js'

export { freePort }

export interface Proc {
  name: string
  pid: number
  child: ChildProcess
  /** The process and its children (nginx workers), for CPU accounting. */
  pids (): number[]
  /** The process copying its output to `logFile` when that goes through a FIFO (`logVia: 'fifo'`): the bench's, not the target's. */
  logReaderPid: number | undefined
  output (): string
  stop (signal?: NodeJS.Signals): Promise<void>
}

/** Every process the bench started and has not seen exit, so an interrupted run can stop them (by pid). */
const started = new Set<ChildProcess>()

/** Puts a child started elsewhere (a load generator) under the same clean-up. */
export function track<C extends ChildProcess> (child: C): C {
  started.add(child)
  child.once('exit', () => { started.delete(child) })
  return child
}

/** Sends SIGKILL to every process the bench started that is still running (Ctrl-C, a failed run). */
export function killAllStarted (): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  started.clear()
}

/**
 * Starts a process that the bench alone owns and stops by its pid. Output
 * goes to `logFile` when given (the broker's request logs), else is kept in
 * memory (first 64 KiB) for error messages.
 *
 * `logVia: 'fifo'` writes `logFile` the way a container runtime writes a
 * container's log: the process's stdout and stderr are a FIFO, and another
 * process (`cat`, as containerd's shim copies its FIFOs) writes the file.
 * The process then pays for a pipe write, as in a pod, and the file
 * system's work for the log is the reader's (docs/benchmarks.md, "Round 7").
 */
export function startProcess (name: string, command: string, args: string[], options: { env?: Record<string, string>, logFile?: string, logVia?: 'file' | 'fifo', cwd?: string }): Proc {
  let fd: number | undefined
  let logReader: ChildProcess | undefined
  if (options.logFile !== undefined && options.logVia === 'fifo') {
    const fifo = `${options.logFile}.fifo`
    rmSync(fifo, { force: true })
    const made = spawnSync('mkfifo', [fifo])
    if (made.status !== 0) throw new Error(`mkfifo ${fifo}: ${made.stderr.toString()}`)
    const file = openSync(options.logFile, 'w')
    logReader = track(spawn('cat', [fifo], { stdio: ['ignore', file, 'inherit'] }))
    closeSync(file)
    // Read and write, so opening does not wait for the reader; the process's copy is then the only writer left, and the reader sees the end when it exits.
    fd = openSync(fifo, 'r+')
  } else if (options.logFile !== undefined) {
    fd = openSync(options.logFile, 'w')
  }
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...options.env },
    stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe']
  })
  if (fd !== undefined) closeSync(fd)
  track(child)
  let output = ''
  const keep = (chunk: Buffer): void => { if (output.length < 65_536) output += chunk.toString() }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  child.on('error', (error) => { output += `\n${error.message}` })
  const pid = child.pid ?? 0
  return {
    name,
    pid,
    child,
    pids: () => [pid, ...childPids(pid)],
    logReaderPid: logReader?.pid,
    output: () => output,
    async stop (signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit')
        child.kill(signal)
        const timer = setTimeout(() => { child.kill('SIGKILL') }, 15_000)
        await exited
        clearTimeout(timer)
      }
      // The log file is whole once the reader has copied the last lines.
      if (logReader !== undefined && logReader.exitCode === null && logReader.signalCode === null) await once(logReader, 'exit')
    }
  }
}

export async function waitFor (what: string, proc: Proc, check: () => Promise<boolean>, timeoutMs = 20_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode} before ${what}:\n${proc.output()}`)
    try {
      if (await check()) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`${proc.name}: no ${what} after ${timeoutMs} ms:\n${proc.output()}`)
    await sleep(intervalMs)
  }
}

/** Resolves with the first line of stdout that parses as JSON. */
export async function firstJsonLine (proc: Proc, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    for (const line of proc.output().split('\n')) {
      try {
        const value = JSON.parse(line) as unknown
        if (typeof value === 'object' && value !== null) return value as Record<string, unknown>
      } catch {}
    }
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode}:\n${proc.output()}`)
    if (Date.now() > deadline) throw new Error(`${proc.name} printed no JSON line:\n${proc.output()}`)
    await sleep(20)
  }
}

export async function httpOk (url: string, headers: Record<string, string> = {}): Promise<boolean> {
  const response = await fetch(url, { headers })
  await response.arrayBuffer()
  return response.ok
}

export interface RedisProc extends Proc {
  url: string
  client: Redis
}

export async function startRedis (): Promise<RedisProc> {
  const port = await freePort()
  const proc = startProcess('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {})
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  await waitFor('PING', proc, async () => {
    if (client.status !== 'ready') await client.connect()
    return await client.ping() === 'PONG'
  })
  return {
    ...proc,
    url: `redis://127.0.0.1:${port}`,
    client,
    async stop () {
      client.disconnect()
      await proc.stop('SIGKILL')
    }
  }
}

/**
 * One `INFO stats commandstats`: calls per command (script internals
 * included) and the socket reads redis-server processed, which count
 * network round trips (a pipelined batch arrives in one read). The INFO
 * itself is one read and one `info` call.
 */
export async function redisStats (client: Redis): Promise<{ calls: Record<string, number>, reads: number }> {
  const info = String(await client.call('INFO', 'stats', 'commandstats'))
  const calls: Record<string, number> = {}
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1] ?? ''] = Number(match[2])
  return { calls, reads: Number(/^total_reads_processed:(\d+)/m.exec(info)?.[1] ?? Number.NaN) }
}

export interface NginxRoute {
  /** Path prefix the load generator sends (the broker's). */
  prefix: string
  /** What it becomes on the simulator. */
  upstreamPrefix: string
  host: string
  token: string
}

/**
 * nginx from the distribution with a config of the bench's own: one worker
 * (the Node targets are one process too; `workers` changes it), a keep-alive
 * upstream pool to the simulator, the Host and Authorization headers set per
 * route. No access log, like the bare Node proxy.
 */
export async function startNginx (options: { dir: string, upstream: { host: string, port: number }, routes: NginxRoute[], workers: number }): Promise<Proc & { port: number }> {
  const port = await freePort()
  mkdirSync(join(options.dir, 'logs'), { recursive: true })
  const locations = options.routes.map((route) => `
    location ${route.prefix} {
      proxy_pass http://simulator${route.upstreamPrefix};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${route.host};
      proxy_set_header Authorization "Bearer ${route.token}";
    }`).join('\n')
  const conf = `
worker_processes ${options.workers};
daemon off;
master_process on;
pid ${join(options.dir, 'nginx.pid')};
error_log ${join(options.dir, 'logs', 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(options.dir, 'body')};
  proxy_temp_path ${join(options.dir, 'proxy')};
  fastcgi_temp_path ${join(options.dir, 'fastcgi')};
  uwsgi_temp_path ${join(options.dir, 'uwsgi')};
  scgi_temp_path ${join(options.dir, 'scgi')};
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  upstream simulator {
    server ${options.upstream.host}:${options.upstream.port};
    keepalive 256;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    ${locations}
  }
}
`
  const file = join(options.dir, 'nginx.conf')
  writeFileSync(file, conf)
  if (!commandExists('nginx')) throw new Error('nginx is not installed (apt-get install -y nginx-light), or leave it out: --targets direct,bare,broker,broker-no-redis')
  const proc = startProcess('nginx', 'nginx', ['-p', options.dir, '-c', file, '-e', join(options.dir, 'logs', 'error.log')], {})
  await waitFor('listening', proc, async () => {
    const response = await fetch(`http://127.0.0.1:${port}/nginx-probe`)
    await response.arrayBuffer()
    return true
  })
  return { ...proc, port, stop: async () => { await proc.stop('SIGQUIT') } }
}

/**
 * Commands clients sent to Redis while `during` ran, by name, from MONITOR:
 * the commands a Lua script runs inside EVAL (tagged `lua`) are not round
 * trips and are left out, unlike in INFO commandstats.
 */
export async function redisRoundTrips<T> (url: string, during: () => Promise<T>): Promise<{ value: T, calls: Record<string, number> }> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  await client.connect()
  const monitor = await client.monitor()
  const calls: Record<string, number> = {}
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') return
    const name = (args[0] ?? '').toLowerCase()
    calls[name] = (calls[name] ?? 0) + 1
  })
  try {
    return { value: await during(), calls }
  } finally {
    monitor.disconnect()
    client.disconnect()
  }
}

export function commandExists (command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}
