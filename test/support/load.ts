import { Pool } from 'undici'

export interface LoadResult {
  sent: number
  ok: number
  failed: number
  /** status (or error code) → count, for failures */
  failures: Record<string, number>
  latenciesMs: number[]
}

export interface LoadOptions {
  targets: readonly string[]
  /** Picks the path for request number `n`. */
  path: (n: number) => string
  headers: Record<string, string>
  concurrency: number
  /** Stop after this long … */
  durationMs?: number
  /** … or after this many requests. */
  requests?: number
  /** Pause between a worker's requests, to hold a steady rate instead of saturating. */
  pauseMs?: number
  /** Status codes that count as success. */
  okStatuses?: readonly number[]
  signal?: AbortSignal
}

/**
 * A bounded closed-loop load: `concurrency` workers, each sending one
 * request at a time, round-robin over the targets, stopping by time or count.
 */
export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const pools = options.targets.map((target) => new Pool(target, { connections: Math.max(1, Math.ceil(options.concurrency / options.targets.length)) }))
  const okStatuses = new Set(options.okStatuses ?? [200])
  const result: LoadResult = { sent: 0, ok: 0, failed: 0, failures: {}, latenciesMs: [] }
  const deadline = options.durationMs === undefined ? Infinity : Date.now() + options.durationMs
  const limit = options.requests ?? Infinity
  let next = 0

  const worker = async (): Promise<void> => {
    while (Date.now() < deadline && next < limit && options.signal?.aborted !== true) {
      const n = next++
      const pool = pools[n % pools.length]
      if (pool === undefined) return
      const started = performance.now()
      result.sent++
      try {
        const response = await pool.request({ method: 'GET', path: options.path(n), headers: options.headers })
        await response.body.dump()
        if (okStatuses.has(response.statusCode)) result.ok++
        else {
          result.failed++
          result.failures[String(response.statusCode)] = (result.failures[String(response.statusCode)] ?? 0) + 1
        }
      } catch (error) {
        result.failed++
        const code = (error as { code?: string }).code ?? 'error'
        result.failures[code] = (result.failures[code] ?? 0) + 1
      }
      result.latenciesMs.push(performance.now() - started)
      if (options.pauseMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.pauseMs))
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  await Promise.all(pools.map(async (pool) => pool.close()))
  return result
}

export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}
