import type { RedisClient } from '../redis/redis-client.js'
import { IdempotencyQuotaExceeded, parseRecord, type ClaimResult, type IdempotencyStore, type SettledRecord } from './idempotency-store.js'
import { untilConnected } from '../redis/redis-ready.js'
import { luaScript } from '../redis/lua-script.js'

// One script per transition, so that no replica acts on a record another
// replica changed in between. KEYS[1] is the record, KEYS[2] the holder's
// lease; both carry the same hash tag (one Redis Cluster slot).

/** SET NX: the first request takes the key; the others read what is there and whether its holder is alive. */
const CLAIM = luaScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return false
end
return { redis.call('GET', KEYS[1]), redis.call('EXISTS', KEYS[2]) }`)

const RENEW = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

/** Only the holder's own in-progress record is replaced (ARGV[4] = '1': only once its lease ran out). */
const SETTLE = luaScript(`
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local record = cjson.decode(stored)
if record.state ~= 'in-progress' or record.owner ~= ARGV[1] then return 0 end
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1`)

const RELEASE = luaScript(`
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local record = cjson.decode(stored)
if record.state ~= 'in-progress' or record.owner ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1`)

export interface RedisIdempotencyStoreOptions {
  redis: RedisClient
  keyPrefix: string
  /**
   * What one caller may keep per retention window: keys taken (past it, a new
   * key is refused) and bytes of stored answers (past it, answers are kept
   * without their body). Counted per window from the caller's first key,
   * apart from the records (another Redis Cluster slot), so approximate by
   * the requests in flight.
   */
  perCaller?: { maxKeys: number, maxBytes: number }
}

/** Storage keys are `<caller>:<sha-256 hex>` (idempotency-key.ts). */
function callerOfKey (key: string): string {
  return key.slice(0, Math.max(0, key.length - 65))
}

/** The record of a completed answer, its body left out (a replay then has status and headers only). */
function withoutBody (record: SettledRecord): SettledRecord {
  return record.state === 'completed' ? { ...record, answer: { ...record.answer, body: '', bodyOmitted: true } } : record
}

/** Idempotency records in Redis, shared by every replica (`<prefix>idempotency:{<caller>:<key hash>}`). */
export function createRedisIdempotencyStore (options: RedisIdempotencyStoreOptions): IdempotencyStore {
  const { redis } = options
  const recordKey = (key: string): string => `${options.keyPrefix}idempotency:{${key}}`
  const leaseKey = (key: string): string => `${options.keyPrefix}idempotency-lease:{${key}}`
  const usageKey = (key: string, what: 'keys' | 'bytes'): string => `${options.keyPrefix}idempotency-caller-${what}:{${callerOfKey(key)}}`

  /** Adds to a caller's count for the window that started with its first key; the new total. */
  async function count (key: string, what: 'keys' | 'bytes', amount: number, windowMs: number): Promise<number> {
    const counter = usageKey(key, what)
    const [[, total]] = await redis.multi().incrby(counter, amount).pexpire(counter, Math.ceil(windowMs), 'NX').exec() as [[Error | null, number]]
    return total
  }

  return {
    kind: 'redis',
    async claim (key, record, retentionMs, leaseMs): Promise<ClaimResult> {
      await untilConnected(redis)
      const result = await CLAIM(redis, 2, recordKey(key), leaseKey(key), JSON.stringify(record), Math.ceil(retentionMs), record.owner, Math.ceil(leaseMs)) as [string, number] | null
      if (result === null) {
        if (options.perCaller !== undefined && await count(key, 'keys', 1, retentionMs) > options.perCaller.maxKeys) {
          await RELEASE(redis, 2, recordKey(key), leaseKey(key), record.owner)
          throw new IdempotencyQuotaExceeded(`caller of ${key} is over its key quota`)
        }
        return { claimed: true }
      }
      const stored = parseRecord(result[0])
      // An unreadable record (written by an incompatible version) is never acted on again.
      if (stored === undefined) throw new Error(`unreadable idempotency record for ${key}`)
      return { claimed: false, record: stored, alive: result[1] === 1 }
    },
    async renew (key, owner, leaseMs) {
      return await RENEW(redis, 1, leaseKey(key), owner, Math.ceil(leaseMs)) === 1
    },
    async settle (key, owner, record, retentionMs, settleOptions = {}) {
      await untilConnected(redis)
      let kept = record
      if (options.perCaller !== undefined && record.state === 'completed' && record.answer.body.length > 0 &&
        await count(key, 'bytes', record.answer.body.length, retentionMs) > options.perCaller.maxBytes) kept = withoutBody(record)
      const done = await SETTLE(redis, 2, recordKey(key), leaseKey(key), owner, JSON.stringify(kept), Math.ceil(retentionMs), settleOptions.onlyIfAbandoned === true ? '1' : '0')
      return done === 1
    },
    async release (key, owner) {
      await untilConnected(redis)
      await RELEASE(redis, 2, recordKey(key), leaseKey(key), owner)
    },
    async close () {}
  }
}
