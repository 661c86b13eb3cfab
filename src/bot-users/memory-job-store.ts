import type { Job, JobItem } from './job.js'
import { itemKey } from './job.js'
import type { JobStore } from './job-store.js'

const MAX_JOBS = 1000

/** Jobs in this process only: a restart forgets them (the broker without Redis). */
export function createMemoryJobStore (now: () => number = Date.now): JobStore {
  const jobs = new Map<string, Job>()
  const items = new Map<string, Map<string, JobItem>>()
  const locks = new Map<string, string>()
  const leases = new Map<string, { owner: string, until: number }>()
  const cancels = new Set<string>()
  const holds = (id: string, owner: string): boolean => {
    const lease = leases.get(id)
    return lease !== undefined && lease.owner === owner && lease.until > now()
  }
  const copy = <T>(value: T): T => structuredClone(value)

  return {
    kind: 'memory',
    async create (job, lockKeys) {
      for (const key of lockKeys) {
        const holder = locks.get(key)
        if (holder !== undefined) return { created: false, heldBy: holder }
      }
      for (const key of lockKeys) locks.set(key, job.id)
      if (jobs.size >= MAX_JOBS) {
        const oldest = [...jobs.values()].find((candidate) => candidate.status !== 'running')
        if (oldest !== undefined) { jobs.delete(oldest.id); items.delete(oldest.id) }
      }
      jobs.set(job.id, copy(job))
      items.set(job.id, new Map())
      return { created: true }
    },
    async get (id) { const job = jobs.get(id); return job === undefined ? undefined : copy(job) },
    async list (count) { return [...jobs.values()].reverse().slice(0, count).map(copy) },
    async running () { return [...jobs.values()].filter((job) => job.status === 'running').map((job) => job.id) },
    async items (id) { return [...(items.get(id)?.values() ?? [])].map(copy) },
    async addItems (id, owner, added) {
      if (!holds(id, owner)) return false
      const map = items.get(id) ?? new Map<string, JobItem>()
      items.set(id, map)
      for (const item of added) if (!map.has(itemKey(item))) map.set(itemKey(item), copy(item))
      return true
    },
    async putItem (id, owner, item) {
      if (!holds(id, owner)) return false
      items.get(id)?.set(itemKey(item), copy(item))
      return true
    },
    async putJob (job, owner) {
      if (!holds(job.id, owner)) return false
      jobs.set(job.id, copy(job))
      return true
    },
    async lease (id, owner, ttlMs) {
      const lease = leases.get(id)
      if (lease !== undefined && lease.owner !== owner && lease.until > now()) return false
      leases.set(id, { owner, until: now() + ttlMs })
      return true
    },
    async release (id, owner) { if (leases.get(id)?.owner === owner) leases.delete(id) },
    async finish (job, owner, lockKeys) {
      if (!holds(job.id, owner)) return
      jobs.set(job.id, copy(job))
      for (const key of lockKeys) if (locks.get(key) === job.id) locks.delete(key)
      leases.delete(job.id)
      cancels.delete(job.id)
    },
    async requestCancel (id) { cancels.add(id) },
    async cancelRequested (id) { return cancels.has(id) },
    async close () {}
  }
}
