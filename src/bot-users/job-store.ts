import type { Job, JobItem } from './job.js'

/**
 * Where migration jobs live: Redis when the broker has one (shared by the
 * replicas, survives restarts), else process memory. Writes made while
 * running a job are fenced by its lease: a replica that lost the lease
 * writes nothing, so a job has one writer at a time.
 */
export interface JobStore {
  readonly kind: string
  /** Stores a new job and takes each tenant's lock; false (and nothing stored) when another job holds one of them. */
  create (job: Job, lockKeys: readonly string[]): Promise<{ created: true } | { created: false, heldBy: string }>
  get (id: string): Promise<Job | undefined>
  /** Newest first, up to `count`. */
  list (count: number): Promise<Job[]>
  /** Jobs still running (some may have a live lease on another replica). */
  running (): Promise<string[]>
  items (id: string): Promise<JobItem[]>
  /** Adds items not yet recorded (an item already known keeps its state). Fenced. */
  addItems (id: string, owner: string, items: readonly JobItem[]): Promise<boolean>
  /** Fenced write of one item. */
  putItem (id: string, owner: string, item: JobItem): Promise<boolean>
  /** Fenced write of the job record. */
  putJob (job: Job, owner: string): Promise<boolean>
  /** Takes or renews the job's lease for `owner`; false when another replica holds it. */
  lease (id: string, owner: string, ttlMs: number): Promise<boolean>
  release (id: string, owner: string): Promise<void>
  /** Job finished or cancelled: its tenant locks go, and it leaves the running set. */
  finish (job: Job, owner: string, lockKeys: readonly string[]): Promise<void>
  requestCancel (id: string): Promise<void>
  cancelRequested (id: string): Promise<boolean>
  /**
   * Settles once the store can be asked: a Redis client that has connected.
   * A store in memory can always be asked and need not say so.
   */
  reachable? (): Promise<void>
  close (): Promise<void>
}

/** One lock per (region, tenant host): two jobs for the same tenant never run at once. */
export const tenantLockKey = (region: string, host: string): string => `${region}:${host}`
