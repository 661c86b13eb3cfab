import type { BucketLimit } from './rate-buckets.js'

/** Qlik's limit as the broker budgets it: a little under the limit, over a little more than the window. */
export interface WindowShape {
  /** Requests allowed in any window of `windowMs`. */
  requests: number
  windowMs: number
}

export interface WindowMargins {
  /**
   * Added to Qlik's window: our clock and Qlik's differ, a request reaches Qlik
   * a little after it was booked, and how finely Qlik slides its window is not
   * documented (docs/reference/qlik-cloud-api.md §5).
   */
  skewMs: number
  /** Share of the limit left unused (0.02 = 2 %), for what the skew does not cover. */
  headroom: number
}

export const DEFAULT_MARGINS: WindowMargins = { skewMs: 1_000, headroom: 0.02 }

export function windowShape (limit: BucketLimit, margins: WindowMargins = DEFAULT_MARGINS): WindowShape {
  return { requests: Math.max(1, Math.floor(limit.requests * (1 - margins.headroom))), windowMs: limit.windowMs + margins.skewMs }
}

export type Booking =
  | { granted: true, at: number }
  | { granted: false, retryAfterMs: number }

interface Entry {
  at: number
  count: number
}

/**
 * Qlik's sliding window, kept as the log of booked sends (time, count), with
 * the running total of the unexpired ones. A booking that fits in what is
 * left of the window goes now; one that does not waits until enough of the
 * oldest sends have left the window, unless that is beyond `maxWaitMs`.
 * Whatever the order of bookings, no window of `windowMs` holds more than
 * `requests`: the total counts every send younger than one window, future
 * ones included, and a later time is only chosen once the sends it needs
 * gone are older than a window by then. The Redis budget runs the same rule
 * in Lua (rate-budget.ts).
 */
export class SlidingWindow {
  private entries: Entry[] = []
  private total = 0
  pausedUntil = 0
  private readonly shape: WindowShape

  constructor (shape: WindowShape) {
    this.shape = shape
  }

  /** Time of the latest booked send: the log can be dropped once this is a window old. */
  get lastAt (): number {
    return this.entries.at(-1)?.at ?? 0
  }

  book (now: number, count: number, maxWaitMs: number): Booking {
    const { windowMs, requests } = this.shape
    this.expire(now)
    const wanted = Math.min(count, requests)
    let at = Math.max(now, this.pausedUntil)
    let excess = this.total + wanted - requests
    for (const entry of this.entries) {
      if (excess <= 0) break
      excess -= entry.count
      at = Math.max(at, entry.at + windowMs)
    }
    if (at - now > maxWaitMs) return { granted: false, retryAfterMs: Math.ceil(at - now) }
    this.insert({ at, count: wanted })
    return { granted: true, at }
  }

  private expire (now: number): void {
    const oldest = now - this.shape.windowMs
    let drop = 0
    while (drop < this.entries.length && (this.entries[drop]?.at ?? 0) <= oldest) {
      this.total -= this.entries[drop]?.count ?? 0
      drop++
    }
    if (drop > 0) this.entries.splice(0, drop)
  }

  private insert (entry: Entry): void {
    this.total += entry.count
    let index = this.entries.length
    while (index > 0 && (this.entries[index - 1]?.at ?? 0) > entry.at) index--
    const before = this.entries[index - 1]
    if (before !== undefined && before.at === entry.at) before.count += entry.count
    else this.entries.splice(index, 0, entry)
  }
}
