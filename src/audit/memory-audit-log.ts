import { compareIds, type AuditLog, type AuditRecord, type StoredAuditRecord } from './audit-log.js'

/** What one process keeps without Redis, whatever the configured stream length: events are small, but memory is the process's. */
export const MEMORY_AUDIT_CAPACITY = 10_000

/** A ring buffer of the last events, for a single replica without Redis; ids are made like Redis stream ids. */
export function createMemoryAuditLog (options: { maxLen: number, now?: () => number }): AuditLog {
  const capacity = Math.max(1, Math.min(options.maxLen, MEMORY_AUDIT_CAPACITY))
  const now = options.now ?? Date.now
  const ring: Array<StoredAuditRecord | undefined> = new Array<StoredAuditRecord | undefined>(capacity)
  let next = 0
  let size = 0
  let lastMs = 0
  let seq = 0

  function nextId (): string {
    const ms = Math.max(now(), lastMs)
    seq = ms === lastMs ? seq + 1 : 0
    lastMs = ms
    return `${ms}-${seq}`
  }

  return {
    kind: 'memory',
    async append (event: AuditRecord) {
      ring[next] = { id: nextId(), event: { ...event } }
      next = (next + 1) % capacity
      size = Math.min(size + 1, capacity)
    },
    async read (range) {
      const found: StoredAuditRecord[] = []
      for (let offset = 1; offset <= size && found.length < range.count; offset++) {
        const entry = ring[(next - offset + capacity) % capacity]
        if (entry === undefined) continue
        const ms = Number(entry.id.split('-')[0])
        if (range.before !== undefined && compareIds(entry.id, range.before) >= 0) continue
        if (range.toMs !== undefined && ms > range.toMs) continue
        if (range.fromMs !== undefined && ms < range.fromMs) break
        found.push({ id: entry.id, event: { ...entry.event } })
      }
      return found
    },
    async close () {
      ring.fill(undefined)
      size = 0
    }
  }
}
