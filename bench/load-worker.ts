import { connect, type Socket } from 'node:net'
import { Pool } from 'undici'

/**
 * The load generator for what autocannon cannot do well, in its own process
 * (config as JSON in argv[2], one JSON result line on stdout):
 *
 * - `rate`: open loop at a fixed rate. Request i is due at start + i / rate
 *   and is sent then, whether or not earlier ones have been answered (so a
 *   stalled target shows up as latency, not as fewer requests: no coordinated
 *   omission). Latency runs from the moment the request is handed to undici
 *   to the end of the body, in µs resolution. autocannon's own rate limit
 *   releases each connection's share in a burst at the start of each second
 *   and records whole milliseconds, which would hide sub-millisecond
 *   differences between targets.
 * - `idle`: opens N keep-alive connections, sends one request on each, then
 *   holds them idle until stdin closes (the parent reads the target's RSS).
 */
interface RateConfig {
  mode: 'rate'
  origin: string
  path: string
  headers: Record<string, string>
  rate: number
  durationMs: number
  warmupMs: number
  connections: number
}

interface IdleConfig {
  mode: 'idle'
  host: string
  port: number
  path: string
  headers: Record<string, string>
  count: number
}

const config = JSON.parse(process.argv[2] ?? '{}') as RateConfig | IdleConfig

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

async function rate (options: RateConfig): Promise<void> {
  const pool = new Pool(options.origin, { connections: options.connections, pipelining: 1, keepAliveTimeout: 60_000 })
  const interval = 1000 / options.rate
  const warmupCount = Math.floor(options.warmupMs / interval)
  const total = warmupCount + Math.floor(options.durationMs / interval)
  const latencies = new Float64Array(total - warmupCount)
  const lags = new Float64Array(total - warmupCount)
  const statuses: Record<string, number> = {}
  let completed = 0
  let failed = 0
  let next = 0
  let inFlight = 0
  let maxInFlight = 0
  let measuredStart = 0
  let lastDone = 0
  const pending = new Set<Promise<void>>()
  const start = performance.now() + 20

  const fire = (index: number, due: number): void => {
    const sent = performance.now()
    inFlight++
    if (inFlight > maxInFlight) maxInFlight = inFlight
    if (index === warmupCount) measuredStart = sent
    const done = pool.request({ method: 'GET', path: options.path, headers: options.headers })
      .then(async (response) => {
        await response.body.dump()
        const end = performance.now()
        if (index < warmupCount) return
        const key = String(response.statusCode)
        statuses[key] = (statuses[key] ?? 0) + 1
        if (response.statusCode !== 200) {
          failed++
          return
        }
        latencies[completed] = end - sent
        lags[completed] = sent - due
        completed++
        lastDone = end
      }, (error: unknown) => {
        if (index < warmupCount) return
        failed++
        const key = (error as { code?: string }).code ?? 'error'
        statuses[key] = (statuses[key] ?? 0) + 1
      })
      .finally(() => {
        inFlight--
        pending.delete(done)
      })
    pending.add(done)
  }

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now()
      while (next < total && start + next * interval <= now) {
        fire(next, start + next * interval)
        next++
      }
      if (next >= total) {
        resolve()
        return
      }
      setTimeout(tick, Math.max(0, start + next * interval - performance.now()))
    }
    setTimeout(tick, 20)
  })
  const drainDeadline = setTimeout(() => { pool.destroy().catch(() => {}) }, 15_000)
  await Promise.allSettled([...pending])
  clearTimeout(drainDeadline)
  await pool.close().catch(() => {})

  const measured = latencies.subarray(0, completed).sort()
  const lagSorted = lags.subarray(0, completed).sort()
  const elapsedS = (lastDone - measuredStart) / 1000
  process.stdout.write(JSON.stringify({
    requested: options.rate,
    sent: total - warmupCount,
    completed,
    failed,
    statuses,
    achievedRate: elapsedS > 0 ? completed / elapsedS : 0,
    maxInFlight,
    latencyMs: { p50: percentile(measured, 50), p90: percentile(measured, 90), p99: percentile(measured, 99), p999: percentile(measured, 99.9), max: percentile(measured, 100) },
    generatorLagMs: { p50: percentile(lagSorted, 50), p99: percentile(lagSorted, 99) }
  }) + '\n')
}

/** Sends one request on a fresh socket and resolves when its whole answer is in (Content-Length or chunked). */
async function openOne (options: IdleConfig): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: options.host, port: options.port })
    let buffered = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const headerEnd = buffered.indexOf('\r\n\r\n')
      if (headerEnd === -1) return
      const head = buffered.subarray(0, headerEnd).toString('latin1')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]
      const body = buffered.subarray(headerEnd + 4)
      const complete = length !== undefined ? body.length >= Number(length) : body.toString('latin1').endsWith('0\r\n\r\n')
      if (!complete) return
      socket.off('data', onData)
      if (status !== 200) reject(new Error(`status ${status}`))
      else resolve(socket)
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.once('connect', () => {
      const headers = Object.entries({ host: `${options.host}:${options.port}`, ...options.headers }).map(([name, value]) => `${name}: ${value}\r\n`).join('')
      socket.write(`GET ${options.path} HTTP/1.1\r\n${headers}\r\n`)
    })
  })
}

async function idle (options: IdleConfig): Promise<void> {
  const sockets: Socket[] = []
  let failed = 0
  for (let opened = 0; opened < options.count; opened += 50) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(50, options.count - opened) }, async () => openOne(options)))
    for (const result of batch) {
      if (result.status === 'fulfilled') sockets.push(result.value)
      else failed++
    }
  }
  let closedByServer = 0
  for (const socket of sockets) socket.once('close', () => { closedByServer++ })
  process.stdout.write(JSON.stringify({ open: sockets.length, failed }) + '\n')
  // Held until the parent closes stdin.
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve)
    process.stdin.on('close', resolve)
    process.stdin.resume()
  })
  const stillOpen = sockets.length - closedByServer
  for (const socket of sockets) socket.destroy()
  process.stderr.write(JSON.stringify({ stillOpenAtEnd: stillOpen }) + '\n')
}

if (config.mode === 'rate') await rate(config)
else await idle(config)
process.exit(0)
