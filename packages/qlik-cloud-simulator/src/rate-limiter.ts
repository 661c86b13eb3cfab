export type Tier = 1 | 2

/** An endpoint with a limit of its own ("special" tier), by route method and pattern. */
export interface SpecialLimit {
  name: string
  method: string
  /** The route's pattern as the simulator declares it, e.g. `/api/v1/reloads`. */
  pattern: string
  requests: number
  windowMs: number
}

export interface RateLimiterOptions {
  tier1PerWindow: number
  tier2PerWindow: number
  windowMs: number
  specialLimits: readonly SpecialLimit[]
  /**
   * A guess: how finely Qlik slides its window is not documented
   * (docs/reference/qlik-cloud-api.md §5). 0 slides it per millisecond; a
   * step counts requests in slots of that length, and a slot leaves the
   * window only once all of it is older than the window.
   */
  guessWindowStepMs: number
  now: () => number
}

export interface RateLimiter {
  /**
   * Counts one request of `key` (a bot user on a host) to the route `method pattern`,
   * in its special bucket if it has one, else in its tier. Returns 0 when
   * allowed, else the Retry-After in seconds (≥ 1).
   */
  take (key: string, method: string, pattern: string, tier: Tier): number
  reset (): void
}

interface Slot {
  at: number
  count: number
}

/** One key's requests in one bucket, oldest first, from `head` on. */
interface Log {
  slots: Slot[]
  head: number
  total: number
}

interface Bucket {
  requests: number
  windowMs: number
  logs: Map<string, Log>
}

/**
 * Qlik's rate limits: per bucket (Tier 1, Tier 2, or an endpoint's special
 * tier), per user, per tenant, counted over a sliding window (5 minutes for
 * the tiers) to allow bursts (reference §5, §11). A request is refused when
 * the window already holds the limit; refused requests do not count. While
 * refused, the whole bucket is blocked for that user until its oldest request
 * leaves the window, which is what Retry-After says; other buckets are not.
 */
export function createRateLimiter (options: RateLimiterOptions): RateLimiter {
  const { now, guessWindowStepMs: step } = options
  const newBuckets = (): { tiers: Record<Tier, Bucket>, special: Map<string, Bucket> } => {
    const special = new Map<string, Bucket>()
    const byName = new Map<string, Bucket>()
    for (const limit of options.specialLimits) {
      const bucket = byName.get(limit.name) ?? { requests: limit.requests, windowMs: limit.windowMs, logs: new Map() }
      byName.set(limit.name, bucket)
      special.set(`${limit.method.toUpperCase()} ${limit.pattern}`, bucket)
    }
    return {
      tiers: {
        1: { requests: options.tier1PerWindow, windowMs: options.windowMs, logs: new Map() },
        2: { requests: options.tier2PerWindow, windowMs: options.windowMs, logs: new Map() }
      },
      special
    }
  }
  let buckets = newBuckets()

  /** When a request counted at `at` stops counting. */
  const leavesAt = (at: number, windowMs: number): number => (step > 0 ? Math.floor(at / step) * step + step : at) + windowMs

  return {
    take (key, method, pattern, tier) {
      const bucket = buckets.special.size > 0 ? buckets.special.get(`${method} ${pattern}`) ?? buckets.tiers[tier] : buckets.tiers[tier]
      const t = now()
      let log = bucket.logs.get(key)
      if (log === undefined) {
        log = { slots: [], head: 0, total: 0 }
        bucket.logs.set(key, log)
      }
      for (let slot = log.slots[log.head]; slot !== undefined && leavesAt(slot.at, bucket.windowMs) <= t; slot = log.slots[log.head]) {
        log.total -= slot.count
        log.head++
      }
      if (log.head > 1024 && log.head * 2 > log.slots.length) {
        log.slots = log.slots.slice(log.head)
        log.head = 0
      }
      if (log.total >= bucket.requests) {
        const oldest = log.slots[log.head]?.at ?? t
        return Math.max(1, Math.ceil((leavesAt(oldest, bucket.windowMs) - t) / 1000))
      }
      const last = log.slots.at(-1)
      if (last !== undefined && last.at === t && log.slots.length > log.head) last.count++
      else log.slots.push({ at: t, count: 1 })
      log.total++
      return 0
    },
    reset () {
      buckets = newBuckets()
    }
  }
}
