import { luaScript } from '../redis/lua-script.js'
import type { RedisClient } from '../redis/redis-client.js'
import { untilConnected } from '../redis/redis-ready.js'
import { EVENT_FIELD, fromFields, toEntryJson, type AuditLog, type StoredAuditRecord } from './audit-log.js'

/**
 * Appends each ARGV after the first as one entry (`event` = the JSON) and
 * trims to about ARGV[1] entries. One command for a chunk of events instead
 * of one XADD each: an XADD costs the broker a command object, its encoding
 * and its parsed reply, about 4 µs per event, against under 1 µs per event
 * in a chunk's script call (docs/benchmarks.md, "Round 4").
 */
export const APPEND = luaScript(`
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', '${EVENT_FIELD}', ARGV[i])
end
return #ARGV - 1`)

export interface RedisAuditLogOptions {
  redis: RedisClient
  keyPrefix: string
  /** Entries kept, approximately (`MAXLEN ~`: Redis trims whole nodes, which keeps XADD cheap). */
  maxLen: number
  /** Events wait at most this long to be written with the ones that follow. Default 20 ms. */
  flushIntervalMs?: number
  /** A batch is written at once when it reaches this many events; also the most events one script call appends. Default 256. */
  maxBatch?: number
  /** While Redis cannot take them, events wait (retried every second) up to this many; older ones are dropped and their append rejects. Default 10,000. */
  maxQueued?: number
}

interface Pending {
  json: string
  settle: (error: Error | null) => void
}

/**
 * Audit events in one Redis stream (`<prefix>audit`), shared by every replica,
 * capped at about `maxLen` entries. Events are written in batches, one
 * pipeline per `flushIntervalMs` or `maxBatch` events: one socket write and
 * one read for many requests instead of one each, and one script call per
 * `maxBatch` events in it instead of one XADD each. A script call Redis
 * refuses (e.g. out of memory) reports every event of its chunk as not
 * stored, even one appended before the refusal; none is written twice. This
 * replica's own reads flush first, so what it just recorded is always in what it lists;
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

  /** One script call per chunk, in one pipeline; a chunk Redis had no script for yet (restart, failover) is sent again with the script's text. */
  async function appendChunks (chunks: Pending[][]): Promise<Array<Error | null>> {
    const args = (chunk: Pending[]): Array<string | number> => [key, options.maxLen, ...chunk.map((pending) => pending.json)]
    const pipeline = redis.pipeline()
    for (const chunk of chunks) pipeline.evalsha(APPEND.sha, 1, ...args(chunk))
    const results = await pipeline.exec()
    if (results === null) throw new Error('the audit pipeline was not run')
    const errors = results.map(([error]) => error)
    const unknownScript = chunks.filter((_, index) => errors[index]?.message.startsWith('NOSCRIPT') === true)
    if (unknownScript.length === 0) return errors
    const again = redis.pipeline()
    for (const chunk of unknownScript) again.eval(APPEND.source, 1, ...args(chunk))
    const retried = await again.exec()
    if (retried === null) throw new Error('the audit pipeline was not run')
    let next = 0
    return errors.map((error) => error?.message.startsWith('NOSCRIPT') === true ? retried[next++]?.[0] ?? null : error)
  }

  /** Settles what Redis stored or refused; gives back what it could not be asked (connection down). */
  async function write (batch: Pending[]): Promise<Pending[]> {
    const chunks: Pending[][] = []
    for (let start = 0; start < batch.length; start += maxBatch) chunks.push(batch.slice(start, start + maxBatch))
    let errors: Array<Error | null>
    try {
      await untilConnected(redis)
      errors = await appendChunks(chunks)
    } catch {
      return batch
    }
    if (errors.every((error) => error !== null && isConnectionError(error))) return batch
    chunks.forEach((chunk, index) => {
      const error = errors[index] ?? null
      for (const pending of chunk) pending.settle(error)
    })
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
        queue.push({ json: toEntryJson(event), settle: (error) => { if (error === null) resolve(); else reject(error) } })
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
