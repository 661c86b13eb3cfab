import type { RedisClient } from '../redis/redis-client.js'
import type { Logger } from '../observability/logger.js'
import { luaScript } from '../redis/lua-script.js'
import type { BucketLimit } from './rate-buckets.js'
import { DEFAULT_MARGINS, SlidingWindow, windowShape, type WindowMargins, type WindowShape } from './rate-window.js'

export type Reservation =
  | { granted: true, delayMs: number }
  | { granted: false, retryAfterMs: number }

/**
 * Qlik's limits are per bot user per tenant, counted per bucket (Tier 1,
 * Tier 2, special endpoints) over a sliding window (5 minutes for the tiers,
 * docs/reference/qlik-cloud-api.md §5, §11), and every replica acts as the
 * same bot user: one budget per (host, bucket), shared. A request that fits
 * in what is left of the window goes at once; one that does not is given the
 * time at which it will fit, or refused when that is more than `maxWaitMs` away.
 */
export interface RateBudget {
  reserve (host: string, bucket: string): Promise<Reservation>
  /** Qlik answered 429: nobody sends to this host and bucket until Retry-After has passed. */
  pause (host: string, bucket: string, ms: number): Promise<void>
}

export interface BudgetOptions {
  /** Qlik's limit of every bucket, by name (rate-buckets.ts). */
  buckets: ReadonlyMap<string, BucketLimit>
  maxWaitMs: number
  margins?: WindowMargins
}

function shapesOf (options: BudgetOptions): Map<string, WindowShape> {
  const margins = options.margins ?? DEFAULT_MARGINS
  return new Map([...options.buckets].map(([name, limit]) => [name, windowShape(limit, margins)]))
}

function shapeOf (shapes: ReadonlyMap<string, WindowShape>, bucket: string): WindowShape {
  const shape = shapes.get(bucket)
  if (shape === undefined) throw new TypeError(`no Qlik rate limit is configured for bucket "${bucket}"`)
  return shape
}

const MAX_KEYS = 50_000

/** The budget of one process: the default without Redis, and the fallback while Redis is away. */
export function createMemoryRateBudget (options: BudgetOptions, now: () => number = Date.now): RateBudget {
  const shapes = shapesOf(options)
  let windows = new Map<string, SlidingWindow>()
  const windowOf = (host: string, bucket: string): SlidingWindow => {
    const key = `${bucket}:${host}`
    let window = windows.get(key)
    if (window === undefined) {
      if (windows.size >= MAX_KEYS) windows = forgetIdle(windows, now())
      window = new SlidingWindow(shapeOf(shapes, bucket))
      windows.set(key, window)
    }
    return window
  }
  function forgetIdle (all: Map<string, SlidingWindow>, t: number): Map<string, SlidingWindow> {
    const longest = Math.max(...[...shapes.values()].map((shape) => shape.windowMs))
    return new Map([...all].filter(([, window]) => window.lastAt > t - longest || window.pausedUntil > t))
  }
  return {
    async reserve (host, bucket) {
      const t = now()
      const booking = windowOf(host, bucket).book(t, 1, options.maxWaitMs)
      return booking.granted ? { granted: true, delayMs: Math.ceil(booking.at - t) } : booking
    },
    async pause (host, bucket, ms) {
      const window = windowOf(host, bucket)
      window.pausedUntil = Math.max(window.pausedUntil, now() + ms)
    }
  }
}

// SlidingWindow.book in Redis: KEYS[1] is the log (a sorted set of sends:
// score = time, member = "seq:count"), KEYS[2] its running total, sequence
// and pause. Server time (TIME) keeps every replica on one clock. Grants as
// many of ARGV[3] sends as fit now, or else one at the time it fits.
// Returns {granted, delay in ms (or retry-after), count granted}.
const BOOK = luaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local maxWait = tonumber(ARGV[4])
local function countOf (member) return tonumber(string.match(member, ':(%d+)$')) end
local total = tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
if #expired > 0 then
  for i = 1, #expired do total = total - countOf(expired[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if total < 0 then total = 0 end
  -- Written now: a refusal below returns before the booking writes it.
  redis.call('HSET', KEYS[2], 'total', total)
end
if total < 0 then total = 0 end
local at = now
local paused = tonumber(redis.call('HGET', KEYS[2], 'paused') or '0')
if paused > at then at = paused end
local count = 1
if total < limit then
  -- Near the limit a lease takes no more than a share of the room left: unused leased sends are lost to the window.
  count = math.max(1, math.min(wanted, math.floor((limit - total) / 4)))
else
  local excess = total + 1 - limit
  local offset = 0
  while excess > 0 do
    local page = redis.call('ZRANGE', KEYS[1], offset, offset + 99, 'WITHSCORES')
    if #page == 0 then
      -- The total outgrew the log (a key lost by hand): start the log again.
      redis.call('DEL', KEYS[1])
      total = 0
      at = math.max(now, paused)
      break
    end
    for i = 1, #page, 2 do
      excess = excess - countOf(page[i])
      local free = tonumber(page[i + 1]) + window
      if free > at then at = free end
      if excess <= 0 then break end
    end
    offset = offset + 100
  end
end
if at - now > maxWait then return {0, math.ceil(at - now), 0} end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('ZADD', KEYS[1], at, seq .. ':' .. count)
redis.call('HSET', KEYS[2], 'total', total + count)
local last = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
local ttl = math.max(math.ceil(last - now + window + 1000), redis.call('PTTL', KEYS[2]))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, math.ceil(at - now), count, seq}`)

// Gives back ARGV[2] unused sends of the booking ARGV[1] (its seq): Qlik never saw them.
const RELEASE = luaScript(`
local member = ARGV[1] .. ':' .. ARGV[3]
local at = redis.call('ZSCORE', KEYS[1], member)
if not at then return 0 end
local unused = tonumber(ARGV[2])
local left = tonumber(ARGV[3]) - unused
redis.call('ZREM', KEYS[1], member)
if left > 0 then redis.call('ZADD', KEYS[1], at, ARGV[1] .. ':' .. left) end
redis.call('HINCRBY', KEYS[2], 'total', -unused)
return 1`)

// Holds the bucket back until now + ARGV[1] ms; both keys live at least that long.
const PAUSE = luaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
local paused = tonumber(redis.call('HGET', KEYS[2], 'paused') or '0')
if untilMs > paused then redis.call('HSET', KEYS[2], 'paused', untilMs) end
local ttl = math.max(tonumber(ARGV[1]) + 1000, redis.call('PTTL', KEYS[2]), redis.call('PTTL', KEYS[1]))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1`)

/** One lease takes at most this share of a window's budget, so replicas do not starve each other. */
const LEASE_SHARE = 20
/**
 * A leased send is used at most this late: it is counted in the window at
 * its booked time, and the skew margin has to cover the difference. A lease
 * is sized to the demand expected in that time, so few sends go unused.
 */
const LATEST_USE_MS = 50
/** Demand is measured over periods of this length. */
const DEMAND_PERIOD_MS = 100

interface Lease {
  /** Local time from which the leased sends may go. */
  at: number
  remaining: number
  /** The booking in Redis the remaining sends belong to, to give back the ones not used. */
  booking: { seq: number, count: number } | undefined
  /** Demand in the last full period (requests per ms), sizes the next lease. */
  rate: number
  /** Requests counted since `periodStart`. */
  recent: number
  periodStart: number
  /** Requests waiting for the booking in flight: the next booking covers them too. */
  waiting: number
  fetching: Promise<void> | undefined
}

/**
 * The shared budget in Redis. Each replica books its sends in small leases
 * (whoever is waiting, or its recent demand over the ≤ 50 ms a leased send may be used late), so a request
 * costs at most one Redis round trip and usually none, while the sends of all
 * replicas are counted in one window log. When Redis is away, the process
 * budgets on its own (each replica then spends at most the whole budget:
 * degraded, not down).
 */
export function createRedisRateBudget (options: BudgetOptions & { redis: RedisClient, keyPrefix: string, logger: Logger, now?: () => number }): RateBudget {
  const { redis } = options
  const now = options.now ?? Date.now
  const margins = options.margins ?? DEFAULT_MARGINS
  const latestUseMs = Math.min(LATEST_USE_MS, margins.skewMs / 2)
  const shapes = shapesOf(options)
  const local = createMemoryRateBudget(options, now)
  let leases = new Map<string, Lease>()
  let lastWarning = 0
  const keys = (host: string, bucket: string): [string, string] => [`${options.keyPrefix}budget-log:{${host}:${bucket}}`, `${options.keyPrefix}budget-meta:{${host}:${bucket}}`]
  const degraded = (error: unknown): void => {
    if (now() - lastWarning > 30_000) {
      lastWarning = now()
      options.logger.warn({ err: (error as Error).message }, 'redis unavailable; Qlik rate budget kept per process')
    }
  }

  async function book (host: string, bucket: string, lease: Lease): Promise<Reservation | undefined> {
    const shape = shapeOf(shapes, bucket)
    const wanted = Math.max(1, lease.waiting + 1, Math.floor(lease.rate * latestUseMs))
    const count = Math.min(wanted, Math.max(1, Math.floor(shape.requests / LEASE_SHARE)))
    const [logKey, metaKey] = keys(host, bucket)
    const [granted, ms, booked, seq] = await BOOK(redis, 2, logKey, metaKey, shape.windowMs, shape.requests, count, options.maxWaitMs) as [number, number, number, number]
    if (granted !== 1) return { granted: false, retryAfterMs: ms }
    lease.at = now() + ms
    lease.remaining = booked
    lease.booking = { seq, count: booked }
    return undefined
  }

  /** Sends leased but not used in time would be lost to the window until it slides past them. */
  function giveBack (host: string, bucket: string, lease: Lease): void {
    const { booking, remaining } = lease
    lease.remaining = 0
    lease.booking = undefined
    if (booking === undefined || remaining <= 0) return
    RELEASE(redis, 2, ...keys(host, bucket), booking.seq, remaining, booking.count).catch(degraded)
  }

  return {
    async reserve (host, bucket) {
      shapeOf(shapes, bucket)
      const key = `${bucket}:${host}`
      let lease = leases.get(key)
      if (lease === undefined) {
        if (leases.size >= MAX_KEYS) leases = new Map()
        lease = { at: 0, remaining: 0, booking: undefined, rate: 0, recent: 0, periodStart: now(), waiting: 0, fetching: undefined }
        leases.set(key, lease)
      }
      const t = now()
      // Counted over whole periods, not per gap: two requests a millisecond apart are not a rate of 1/ms.
      if (t - lease.periodStart >= DEMAND_PERIOD_MS) {
        lease.rate = lease.recent / (t - lease.periodStart)
        lease.recent = 0
        lease.periodStart = t
      }
      lease.recent++
      for (;;) {
        const current = now()
        // A send used later than booked would leave Qlik's window later than ours: drop it instead.
        if (lease.remaining > 0 && lease.at < current - latestUseMs) giveBack(host, bucket, lease)
        if (lease.remaining > 0) {
          lease.remaining--
          // Whole milliseconds down: a send a fraction of a millisecond ahead goes now, not after a 1 ms timer.
          return { granted: true, delayMs: Math.max(0, Math.floor(lease.at - current)) }
        }
        if (lease.fetching !== undefined) {
          lease.waiting++
          try {
            await lease.fetching
          } catch {
            // The request that started the booking reports the outage.
            return await local.reserve(host, bucket)
          } finally {
            lease.waiting--
          }
          continue
        }
        let refusal: Reservation | undefined
        const booking = lease
        lease.fetching = book(host, bucket, booking).then((result) => { refusal = result }).finally(() => { booking.fetching = undefined })
        try {
          await lease.fetching
        } catch (error) {
          degraded(error)
          return await local.reserve(host, bucket)
        }
        if (refusal !== undefined) return refusal
      }
    },
    async pause (host, bucket, ms) {
      leases.delete(`${bucket}:${host}`)
      await local.pause(host, bucket, ms)
      try {
        await PAUSE(redis, 2, ...keys(host, bucket), Math.max(1, Math.ceil(ms)))
      } catch (error) {
        degraded(error)
      }
    }
  }
}
