import type { Redis } from 'ioredis'
import { untilConnected } from '../redis/redis-ready.js'
import { fromFields, toFields, type AuditLog, type StoredAuditRecord } from './audit-log.js'

export interface RedisAuditLogOptions {
  redis: Redis
  keyPrefix: string
  /** Entries kept, approximately (`MAXLEN ~`: Redis trims whole nodes, which keeps XADD cheap). */
  maxLen: number
  /** Events wait at most this long to be written with the ones that follow. Default 20 ms. */
  flushIntervalMs?: number
  /** A batch is written at once when it reaches this many events. Default 256. */
  maxBatch?: number
  /** While Redis cannot take them, events wait (retried every second) up to this many; older ones are dropped and their append rejects. Default 10,000. */
  maxQueued?: number
}

interface Pending {
  fields: string[]
  settle: (error: Error | null) => void
}

/**
 * Audit events in one Redis stream (`<prefix>audit`), shared by every replica,
 * capped at about `maxLen` entries. Events are written in batches, one
 * pipeline of XADDs per `flushIntervalMs` or `maxBatch` events: one socket
 * write and one read for many requests instead of one each. This replica's
 * own reads flush first, so what it just recorded is always in what it lists;
 * another replica's events show up within `flushIntervalMs`. While Redis is
 * unreachable events wait in memory, bounded, and are written once it is back.
 */
export function createRedisAuditLog (options: RedisAuditLogOptions): AuditLog {
  const { redis } = options
  const key = `${options.keyPrefix}audit`
  const flushIntervalMs = options.flushIntervalMs ?? 20
  const maxBatch = options.maxBatch ?? 256
  const maxQueued = options.maxQueued ?? 10_000
  let queue: Pending[] = []
  let timer: NodeJS.Timeout | undefined
  let inFlight = Promise.resolve()
  const retryIntervalMs = Math.max(flushIntervalMs, 1_000)

  /** Settles what Redis stored or refused; gives back what it could not be asked (connection down). */
  async function write (batch: Pending[]): Promise<Pending[]> {
    let results: Array<[Error | null, unknown]> | null
    try {
      await untilConnected(redis)
      const pipeline = redis.pipeline()
      for (const { fields } of batch) pipeline.xadd(key, 'MAXLEN', '~', options.maxLen, '*', ...fields)
      results = await pipeline.exec()
    } catch {
      return batch
    }
    if (results === null || results.every(([error]) => error !== null && isConnectionError(error))) return batch
    batch.forEach((pending, index) => { pending.settle(results[index]?.[0] ?? null) })
    return []
  }

  function keepForLater (unwritten: Pending[], giveUp: boolean): void {
    if (unwritten.length === 0) return
    if (giveUp) {
      for (const pending of unwritten) pending.settle(new Error('Redis was unreachable when the broker stopped'))
      return
    }
    queue = unwritten.concat(queue)
    while (queue.length > maxQueued) queue.shift()?.settle(new Error(`more than ${maxQueued} audit events waiting for Redis; the oldest was dropped`))
    schedule(retryIntervalMs)
  }

  function schedule (delayMs: number): void {
    if (timer !== undefined) return
    timer = setTimeout(flushInBackground, delayMs)
    timer.unref()
  }

  // flush() never rejects: each event's outcome goes to its own append().
  const flushInBackground = (): void => { flush().catch(() => {}) }

  /** Writes what is queued; resolves when it (and every earlier batch) is settled or queued again. */
  function flush (giveUp = false): Promise<void> {
    if (timer !== undefined) {
      clearTimeout(timer)
      timer = undefined
    }
    if (queue.length > 0) {
      const batch = queue
      queue = []
      // Batches go out in order: a pipeline is written after the one before it settled.
      inFlight = inFlight.then(async () => { keepForLater(await write(batch), giveUp) })
    }
    return inFlight
  }

  return {
    kind: 'redis',
    append (event) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ fields: toFields(event), settle: (error) => { if (error === null) resolve(); else reject(error) } })
        if (queue.length > maxQueued) queue.shift()?.settle(new Error(`more than ${maxQueued} audit events waiting for Redis; the oldest was dropped`))
        if (queue.length >= maxBatch) flushInBackground()
        else schedule(flushIntervalMs)
      })
    },
    async read (range) {
      await flush()
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
    async close () {
      await flush(true)
    }
  }
}

function isConnectionError (error: Error): boolean {
  return /connection|closed|stream isn't writeable|ECONNRE|EPIPE|ETIMEDOUT/i.test(error.message)
}
