import type { IdempotencyRecord, IdempotencyStore } from './idempotency-store.js'

export interface MemoryIdempotencyLimits {
  /** Most records kept; beyond it the oldest settled ones go first. */
  maxEntries: number
  /** Most bytes of records kept (their JSON size); beyond it the oldest settled ones go first. */
  maxBytes: number
}

/** What the process holds, for the metrics (`qlik_broker_idempotency_memory_*`). */
export interface MemoryIdempotencyUsage {
  entries: number
  bytes: number
  /** Records dropped to stay within the limits since start (a repeat of one runs as a new request). */
  evictions: number
}

export interface MemoryIdempotencyStore extends IdempotencyStore {
  usage (): MemoryIdempotencyUsage
}

export const DEFAULT_MEMORY_IDEMPOTENCY_LIMITS: MemoryIdempotencyLimits = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 }

/**
 * Idempotency records in process, for a single replica without Redis (the
 * demo, tests). Same transitions as the Redis store; expiry is checked on
 * access and swept now and then. Bounded in entries and bytes (300 answers
 * of 300 KB once kept 120 MB for a day): past either bound the oldest
 * settled records are dropped. A record in progress is never dropped (that
 * could let its request run twice); there are as many as requests in flight.
 */
export function createMemoryIdempotencyStore (now: () => number = Date.now, limits: MemoryIdempotencyLimits = DEFAULT_MEMORY_IDEMPOTENCY_LIMITS): MemoryIdempotencyStore {
  /** In write order (re-inserted on every write), so the first entries are the oldest. */
  const records = new Map<string, { record: IdempotencyRecord, expiresAt: number, bytes: number }>()
  const leases = new Map<string, { owner: string, expiresAt: number }>()
  let bytes = 0
  let evictions = 0
  let sweptAt = now()

  function remove (key: string): void {
    const entry = records.get(key)
    if (entry === undefined) return
    bytes -= entry.bytes
    records.delete(key)
  }

  function write (key: string, record: IdempotencyRecord, retentionMs: number): void {
    remove(key)
    const size = Buffer.byteLength(JSON.stringify(record)) + key.length
    records.set(key, { record, expiresAt: now() + retentionMs, bytes: size })
    bytes += size
    if (records.size <= limits.maxEntries && bytes <= limits.maxBytes) return
    for (const [oldest, entry] of records) {
      if (records.size <= limits.maxEntries && bytes <= limits.maxBytes) break
      if (entry.record.state === 'in-progress' || oldest === key) continue
      remove(oldest)
      evictions++
    }
  }

  function sweep (): void {
    const time = now()
    if (time - sweptAt < 60_000) return
    sweptAt = time
    for (const [key, entry] of records) if (entry.expiresAt <= time) remove(key)
    for (const [key, entry] of leases) if (entry.expiresAt <= time) leases.delete(key)
  }

  function live (key: string): IdempotencyRecord | undefined {
    const entry = records.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > now()) return entry.record
    remove(key)
    return undefined
  }

  function leaseHeld (key: string): boolean {
    const lease = leases.get(key)
    return lease !== undefined && lease.expiresAt > now()
  }

  function ownedInProgress (key: string, owner: string): boolean {
    const record = live(key)
    return record?.state === 'in-progress' && record.owner === owner
  }

  return {
    kind: 'memory',
    usage: () => ({ entries: records.size, bytes, evictions }),
    async claim (key, record, retentionMs, leaseMs) {
      sweep()
      const existing = live(key)
      if (existing !== undefined) return { claimed: false, record: existing, alive: leaseHeld(key) }
      write(key, record, retentionMs)
      leases.set(key, { owner: record.owner, expiresAt: now() + leaseMs })
      return { claimed: true }
    },
    async renew (key, owner, leaseMs) {
      const lease = leases.get(key)
      if (lease === undefined || lease.owner !== owner || lease.expiresAt <= now()) return false
      lease.expiresAt = now() + leaseMs
      return true
    },
    async settle (key, owner, record, retentionMs, options = {}) {
      if (!ownedInProgress(key, owner)) return false
      if (options.onlyIfAbandoned === true && leaseHeld(key)) return false
      write(key, record, retentionMs)
      leases.delete(key)
      return true
    },
    async release (key, owner) {
      if (!ownedInProgress(key, owner)) return
      remove(key)
      leases.delete(key)
    },
    async close () {
      records.clear()
      leases.clear()
      bytes = 0
    }
  }
}
