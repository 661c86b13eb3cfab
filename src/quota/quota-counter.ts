import type { RedisClient } from '../redis/redis-client.js'
import type { Logger } from '../observability/logger.js'

export interface QuotaLimit {
  requests: number
  windowMs: number
}

export interface QuotaDecision {
  allowed: boolean
  limit: number
  remaining: number
  /** Until the window ends. */
  resetMs: number
}

export interface QuotaCounter {
  take (caller: string, limit: QuotaLimit): QuotaDecision
  close (): Promise<void>
}

interface Window {
  id: number
  /** Requests counted here and not yet added to the shared count. */
  pending: number
  /** The shared count (all replicas) as of the last sync. */
  shared: number
  limit: QuotaLimit
}

/**
 * Per-caller fixed-window quotas. Each replica counts in memory (no I/O on
 * the request path) and adds its count to Redis every `syncIntervalMs`,
 * reading back the total of all replicas; so the quota holds across replicas
 * within one sync interval of traffic. Without Redis (or while it is away)
 * each replica enforces the quota on its own count.
 */
export function createQuotaCounter (options: { redis?: RedisClient | undefined, keyPrefix: string, logger: Logger, syncIntervalMs?: number, now?: () => number }): QuotaCounter {
  const now = options.now ?? Date.now
  const windows = new Map<string, Window>()
  let lastWarning = 0

  async function sync (): Promise<void> {
    const redis = options.redis
    if (redis === undefined) return
    const batch = [...windows.entries()].filter(([, window]) => window.pending > 0)
    if (batch.length === 0) return
    const sent = batch.map(([caller, window]) => ({ key: `${options.keyPrefix}quota:{${caller}}:${window.id}`, window, count: window.pending }))
    for (const entry of sent) entry.window.pending -= entry.count
    try {
      // One pipeline per counter: on a Redis Cluster each caller's counter may live on another node,
      // and a pipeline must stay on one (auto-pipelining still batches them per node).
      const totals = await Promise.all(sent.map(async (entry) => (await redis.pipeline().incrby(entry.key, entry.count).pexpire(entry.key, entry.window.limit.windowMs * 2).exec())?.[0]?.[1]))
      sent.forEach((entry, index) => {
        const total = totals[index]
        if (typeof total === 'number') entry.window.shared = total
      })
    } catch (error) {
      // Keep the counts: they are added at the next sync that works.
      for (const entry of sent) entry.window.pending += entry.count
      if (now() - lastWarning > 30_000) {
        lastWarning = now()
        options.logger.warn({ err: (error as Error).message }, 'redis unavailable; caller quotas enforced per replica')
      }
    }
  }

  const timer = setInterval(() => { sync().catch(() => {}) }, options.syncIntervalMs ?? 250)
  timer.unref()

  return {
    take (caller, limit) {
      const t = now()
      const id = Math.floor(t / limit.windowMs)
      let window = windows.get(caller)
      if (window === undefined || window.id !== id) {
        window = { id, pending: 0, shared: 0, limit }
        windows.set(caller, window)
      }
      const used = window.shared + window.pending
      const resetMs = (id + 1) * limit.windowMs - t
      if (used >= limit.requests) return { allowed: false, limit: limit.requests, remaining: 0, resetMs }
      window.pending++
      return { allowed: true, limit: limit.requests, remaining: Math.max(0, limit.requests - used - 1), resetMs }
    },
    async close () {
      clearInterval(timer)
      await sync().catch(() => {})
    }
  }
}
