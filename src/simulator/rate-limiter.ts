export type Tier = 1 | 2

export interface RateLimiterOptions {
  tier1PerWindow: number
  tier2PerWindow: number
  windowMs: number
  now: () => number
}

export interface RateLimiter {
  /** Counts one request for `key` in `tier`. Returns 0 when allowed, else the Retry-After in seconds (≥ 1). */
  take (key: string, tier: Tier): number
  reset (): void
}

interface Window {
  start: number
  count: number
}

/**
 * Fixed window per (scope, caller, tier), as Qlik's limits are per tier, per
 * user, per tenant (reference §5). Once a window is full, the whole tier is
 * blocked for that caller until it ends; the other tier is unaffected.
 * Rejected requests do not count.
 */
export function createRateLimiter (options: RateLimiterOptions): RateLimiter {
  const { windowMs, now } = options
  const limits = { 1: options.tier1PerWindow, 2: options.tier2PerWindow }
  // One map per tier avoids building a composite key string per request.
  let windows = { 1: new Map<string, Window>(), 2: new Map<string, Window>() }

  return {
    take (key, tier) {
      const map = windows[tier]
      const t = now()
      let window = map.get(key)
      if (window === undefined || t - window.start >= windowMs) {
        window = { start: t, count: 0 }
        map.set(key, window)
      }
      if (window.count < limits[tier]) {
        window.count++
        return 0
      }
      return Math.max(1, Math.ceil((window.start + windowMs - t) / 1000))
    },
    reset () {
      windows = { 1: new Map(), 2: new Map() }
    }
  }
}
