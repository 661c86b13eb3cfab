import type { RedisClient } from '../redis/redis-client.js'
import type { Logger } from '../observability/logger.js'
import { luaScript } from '../redis/lua-script.js'

export type Tier = 1 | 2

export interface TierLimit {
  /** Requests Qlik allows per window, per bot user per tenant (reference §5). */
  requests: number
  windowMs: number
}

export type Reservation =
  | { granted: true, delayMs: number }
  | { granted: false, retryAfterMs: number }

/**
 * Qlik's limits are per bot user per tenant, and every replica acts as the
 * same bot user: one budget per (host, tier), shared. A reservation books
 * the next slot and says how long to wait for it, so bursts are smoothed
 * instead of collecting 429s; past `maxWaitMs` the caller is refused.
 */
export interface RateBudget {
  reserve (host: string, tier: Tier): Promise<Reservation>
  /** Qlik answered 429: nobody sends to this host and tier until Retry-After has passed. */
  pause (host: string, tier: Tier, ms: number): Promise<void>
}

export interface BudgetShape {
  /** Spacing between requests, so that a window never holds more than Qlik's limit. */
  intervalMs: number
  /** How far ahead of its slot a request may go: a burst of `burst` requests. */
  toleranceMs: number
}

/**
 * GCRA with a burst of a few percent of the limit and the rest spread
 * evenly: any window of Qlik's length holds at most burst + (limit - burst
 * - 1) requests, one below the limit, which absorbs a window edge and the
 * jitter between our clock and Qlik's; so the broker never provokes a 429.
 */
export function budgetShape (limit: TierLimit, burstFraction = 0.05): BudgetShape {
  const burst = Math.max(1, Math.floor(limit.requests * burstFraction))
  const intervalMs = limit.windowMs / Math.max(1, limit.requests - burst - 1)
  return { intervalMs, toleranceMs: (burst - 1) * intervalMs }
}

export function tierOf (method: string): Tier {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 1 : 2
}

// Books `count` consecutive slots at once; server time (TIME) keeps every
// replica on one clock. Returns {granted, delay of the first slot in ms}.
const RESERVE = luaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local maxWait = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local start = now
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then start = now + paused + tolerance end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < start then tat = start end
local delay = tat - tolerance - now
if delay < 0 then delay = 0 end
if delay > maxWait then return {0, math.ceil(delay)} end
local nextTat = tat + interval * count
redis.call('SET', KEYS[1], tostring(nextTat), 'PX', math.ceil(nextTat - now + tolerance + 1000))
return {1, math.ceil(delay)}`)

export interface BudgetOptions {
  limits: Record<Tier, TierLimit>
  maxWaitMs: number
  burstFraction?: number
}

export function createMemoryRateBudget (options: BudgetOptions, now: () => number = Date.now): RateBudget {
  const shapes = { 1: budgetShape(options.limits[1], options.burstFraction), 2: budgetShape(options.limits[2], options.burstFraction) }
  const tats = new Map<string, number>()
  const pauses = new Map<string, number>()
  return {
    async reserve (host, tier) {
      const key = `${tier}:${host}`
      const shape = shapes[tier]
      const t = now()
      const pausedUntil = pauses.get(key) ?? 0
      const start = pausedUntil > t ? pausedUntil + shape.toleranceMs : t
      const tat = Math.max(tats.get(key) ?? 0, start)
      const delayMs = Math.max(0, tat - shape.toleranceMs - t)
      if (delayMs > options.maxWaitMs) return { granted: false, retryAfterMs: Math.ceil(delayMs) }
      tats.set(key, tat + shape.intervalMs)
      if (tats.size > 50_000) tats.clear()
      return { granted: true, delayMs: Math.ceil(delayMs) }
    },
    async pause (host, tier, ms) {
      pauses.set(`${tier}:${host}`, Math.max(pauses.get(`${tier}:${host}`) ?? 0, now() + ms))
    }
  }
}

/** How far ahead a replica books slots for itself: one Redis call serves this much traffic. */
const LEASE_HORIZON_MS = 50
const MAX_LEASE = 1_000
/**
 * A booked slot this far in the past is dropped, not used late (late use
 * would bunch requests), unless the budget's burst tolerance covers the
 * lateness, up to the lease horizon: at high limits every slot of a lease is
 * "now", and dropping them after 5 ms would mean a Redis call every few requests.
 */
const STALE_SLOT_MS = 5

function staleAfter (shape: BudgetShape): number {
  return Math.max(STALE_SLOT_MS, Math.min(LEASE_HORIZON_MS, shape.toleranceMs))
}

interface Lease {
  /** Local time of the next booked slot. */
  next: number
  remaining: number
  /** Recent demand, requests per ms (moving average), sizes the next lease. */
  rate: number
  lastAt: number
  fetching: Promise<void> | undefined
}

/**
 * The shared budget in Redis. Each replica books a short run of slots at a
 * time (sized to its recent demand, about 50 ms of traffic), so the request
 * path rarely waits on Redis while the slots of all replicas still come from
 * one schedule. When Redis is away, the process budgets on its own (each
 * replica then spends at most the whole budget: degraded, not down).
 */
export function createRedisRateBudget (options: BudgetOptions & { redis: RedisClient, keyPrefix: string, logger: Logger, now?: () => number }): RateBudget {
  const { redis } = options
  const now = options.now ?? Date.now
  const shapes = { 1: budgetShape(options.limits[1], options.burstFraction), 2: budgetShape(options.limits[2], options.burstFraction) }
  const staleAfterMs = { 1: staleAfter(shapes[1]), 2: staleAfter(shapes[2]) }
  const local = createMemoryRateBudget(options, now)
  const leases = new Map<string, Lease>()
  let lastWarning = 0
  const keys = (host: string, tier: Tier): [string, string] => [`${options.keyPrefix}budget:{${host}:${tier}}`, `${options.keyPrefix}budget-pause:{${host}:${tier}}`]
  const degraded = (error: unknown): void => {
    if (now() - lastWarning > 30_000) {
      lastWarning = now()
      options.logger.warn({ err: (error as Error).message }, 'redis unavailable; Qlik rate budget kept per process')
    }
  }

  async function book (host: string, tier: Tier, lease: Lease): Promise<Reservation | undefined> {
    const shape = shapes[tier]
    const count = Math.max(1, Math.min(MAX_LEASE, Math.floor(lease.rate * LEASE_HORIZON_MS), Math.floor(LEASE_HORIZON_MS / shape.intervalMs)))
    const [budgetKey, pauseKey] = keys(host, tier)
    const [granted, ms] = await RESERVE(redis, 2, budgetKey, pauseKey, shape.intervalMs, shape.toleranceMs, options.maxWaitMs, count) as [number, number]
    if (granted !== 1) return { granted: false, retryAfterMs: ms }
    lease.next = now() + ms
    lease.remaining = count
    return undefined
  }

  return {
    async reserve (host, tier) {
      const key = `${tier}:${host}`
      let lease = leases.get(key)
      if (lease === undefined) {
        lease = { next: 0, remaining: 0, rate: 0, lastAt: now(), fetching: undefined }
        leases.set(key, lease)
        if (leases.size > 50_000) leases.clear()
      }
      const t = now()
      lease.rate = 0.8 * lease.rate + 0.2 / Math.max(1, t - lease.lastAt)
      lease.lastAt = t
      const interval = shapes[tier].intervalMs
      for (;;) {
        const current = now()
        while (lease.remaining > 0 && lease.next < current - staleAfterMs[tier]) {
          lease.next += interval
          lease.remaining--
        }
        if (lease.remaining > 0) {
          const slot = lease.next
          lease.next += interval
          lease.remaining--
          // Whole milliseconds down: a slot a fraction of a millisecond ahead is taken now, not after a 1 ms timer.
          return { granted: true, delayMs: Math.max(0, Math.floor(slot - current)) }
        }
        if (lease.fetching !== undefined) {
          try {
            await lease.fetching
          } catch {
            // The request that started the booking reports the outage.
            return await local.reserve(host, tier)
          }
          continue
        }
        let refusal: Reservation | undefined
        const booking = lease
        lease.fetching = book(host, tier, booking).then((result) => { refusal = result }).finally(() => { booking.fetching = undefined })
        try {
          await lease.fetching
        } catch (error) {
          degraded(error)
          return await local.reserve(host, tier)
        }
        if (refusal !== undefined) return refusal
      }
    },
    async pause (host, tier, ms) {
      leases.delete(`${tier}:${host}`)
      await local.pause(host, tier, ms)
      try {
        await redis.set(keys(host, tier)[1], '1', 'PX', Math.max(1, Math.ceil(ms)))
      } catch (error) {
        degraded(error)
      }
    }
  }
}
