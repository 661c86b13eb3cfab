import type { IdempotencyRecord, IdempotencyStore } from './idempotency-store.js'

/**
 * Idempotency records in process, for a single replica without Redis (the
 * demo, tests). Same transitions as the Redis store; expiry is checked on
 * access and swept now and then so a busy process does not grow forever.
 */
export function createMemoryIdempotencyStore (now: () => number = Date.now): IdempotencyStore {
  const records = new Map<string, { record: IdempotencyRecord, expiresAt: number }>()
  const leases = new Map<string, { owner: string, expiresAt: number }>()
  let sweptAt = now()

  function sweep (): void {
    const time = now()
    if (time - sweptAt < 60_000) return
    sweptAt = time
    for (const [key, entry] of records) if (entry.expiresAt <= time) records.delete(key)
    for (const [key, entry] of leases) if (entry.expiresAt <= time) leases.delete(key)
  }

  function live (key: string): IdempotencyRecord | undefined {
    const entry = records.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > now()) return entry.record
    records.delete(key)
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
    async claim (key, record, retentionMs, leaseMs) {
      sweep()
      const existing = live(key)
      if (existing !== undefined) return { claimed: false, record: existing, alive: leaseHeld(key) }
      records.set(key, { record, expiresAt: now() + retentionMs })
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
      records.set(key, { record, expiresAt: now() + retentionMs })
      leases.delete(key)
      return true
    },
    async release (key, owner) {
      if (!ownedInProgress(key, owner)) return
      records.delete(key)
      leases.delete(key)
    },
    async close () {
      records.clear()
      leases.clear()
    }
  }
}
