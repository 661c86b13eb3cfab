import type { Redis } from 'ioredis'
import { untilConnected } from '../idempotency/redis-ready.js'
import { fromFields, toFields, type AuditLog, type StoredAuditRecord } from './audit-log.js'

export interface RedisAuditLogOptions {
  redis: Redis
  keyPrefix: string
  /** Entries kept, approximately (`MAXLEN ~`: Redis trims whole nodes, which keeps XADD cheap). */
  maxLen: number
}

/** Audit events in one Redis stream (`<prefix>audit`), shared by every replica, capped at about `maxLen` entries. */
export function createRedisAuditLog (options: RedisAuditLogOptions): AuditLog {
  const { redis } = options
  const key = `${options.keyPrefix}audit`
  return {
    kind: 'redis',
    async append (event) {
      await untilConnected(redis)
      await redis.xadd(key, 'MAXLEN', '~', options.maxLen, '*', ...toFields(event))
    },
    async read (range) {
      await untilConnected(redis)
      let end = range.toMs === undefined ? '+' : String(range.toMs)
      // Resuming: strictly before the cursor, unless `toMs` is earlier still.
      if (range.before !== undefined && (range.toMs === undefined || Number(range.before.split('-')[0]) <= range.toMs)) end = `(${range.before}`
      const start = range.fromMs === undefined ? '-' : String(range.fromMs)
      const entries = await redis.xrevrange(key, end, start, 'COUNT', range.count)
      const records: StoredAuditRecord[] = []
      for (const [id, fields] of entries) {
        const event = fromFields(fields)
        if (event !== undefined) records.push({ id, event })
      }
      return records
    },
    async close () {}
  }
}
