import type { RedisClient } from '../redis/redis-client.js'
import { untilConnected } from '../redis/redis-ready.js'
import { fromFields, toFields, type AuditLog, type StoredAuditRecord } from './audit-log.js'

export interface RedisAuditLogOptions {
  redis: RedisClient
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
  let writing = false
  let waitingForRedis = false
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
    waitingForRedis = false
    return []
  }

  function dropOverflow (): void {
    while (queue.length > maxQueued) queue.shift()?.settle(new Error(`more than ${maxQueued} audit events waiting for Redis; the oldest was dropped`))
  }

  function keepForLater (unwritten: Pending[], giveUp: boolean): void {
    if (unwritten.length === 0) return
    if (giveUp) {
      for (const pending of unwritten) pending.settle(new Error('Redis was unreachable when the broker stopped'))
      return
    }
    queue = unwritten.concat(queue)
    dropOverflow()
    // Until Redis is back, only the retry timer writes: a full batch arriving meanwhile would only fail again.
    waitingForRedis = true
    schedule(retryIntervalMs)
  }

  function schedule (delayMs: number): void {
    if (timer !== undefined) return
    timer = setTimeout(flushInBackground, delayMs)
    timer.unref()
  }

  // flush() never rejects: each event's outcome goes to its own append().
  const flushInBackground = (): void => { flush().catch(() => {}) }

  /**
   * Starts writing what is queued unless a write is already under way (one
   * pipeline at a time: what arrives meanwhile goes in the next, larger one).
   * Resolves when the write under way or started is settled or queued again.
   */
  function flush (giveUp = false): Promise<void> {
    if (timer !== undefined) {
      clearTimeout(timer)
      timer = undefined
    }
    if (writing || queue.length === 0) return inFlight
    writing = true
    const batch = queue
    queue = []
    inFlight = (async () => {
      const unwritten = await write(batch)
      writing = false
      keepForLater(unwritten, giveUp)
      if (!waitingForRedis && queue.length > 0) schedule(queue.length >= maxBatch ? 0 : flushIntervalMs)
    })()
    return inFlight
  }

  /** Writes everything queued so far (reads and shutdown); stops early while Redis is away, unless giving up. */
  async function drain (giveUp = false): Promise<void> {
    for (;;) {
      await flush(giveUp)
      if ((queue.length === 0 && !writing) || (waitingForRedis && !giveUp)) return
    }
  }

  return {
    kind: 'redis',
    append (event) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ fields: toFields(event), settle: (error) => { if (error === null) resolve(); else reject(error) } })
        dropOverflow()
        if (queue.length >= maxBatch && !waitingForRedis) flushInBackground()
        else schedule(flushIntervalMs)
      })
    },
    async read (range) {
      await drain()
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
      await drain(true)
    }
  }
}

function isConnectionError (error: Error): boolean {
  // "max retries per request": the connection dropped with the batch in flight (a Sentinel failover,
  // a master killed) and the reconnect did not find a master yet; the batch goes to the next one.
  return /connection|closed|stream isn't writeable|ECONNRE|EPIPE|ETIMEDOUT|max retries per request/i.test(error.message)
}
