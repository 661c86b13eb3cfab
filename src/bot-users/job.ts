import type { OwnedItem } from './discovery.js'
import type { ContentKind } from './owned-content.js'

/** pending → moving → moved | failed; an item found `moving` after a crash is re-read before any retry. */
export type ItemState = 'pending' | 'moving' | 'moved' | 'failed'

/** An item found by discovery, as a job carries it. */
export interface JobItem extends OwnedItem {
  /** Position of its tenant in the job. */
  tenant: number
  state: ItemState
  /** Qlik's error (code and title) or why the item was not moved. */
  error?: string | undefined
}

export type TenantPhase = 'pending' | 'discovering' | 'moving' | 'done' | 'failed'

export interface JobTenant {
  /** As the caller named it (id or hostname). */
  ref: string
  host: string
  /** Every name the tenant is known by, for policy. */
  names: string[]
  /** The broker's registry records the job's caller as the tenant's creator (a `tenants: created` grant). */
  createdByCaller: boolean
  phase: TenantPhase
  activeBotUser?: string | undefined
  inactiveBotUsers: string[]
  error?: string | undefined
}

export type JobStatus = 'running' | 'finished' | 'cancelled'

export interface Job {
  id: string
  region: string
  /** The caller that started it: every audit event of the job names it. */
  caller: string
  deleteKinds: ContentKind[]
  status: JobStatus
  tenants: JobTenant[]
  createdAt: string
  updatedAt: string
  finishedAt?: string | undefined
}

/** The field an item is stored under: unique per tenant, kind and id. */
export const itemKey = (item: Pick<JobItem, 'tenant' | 'kind' | 'id'>): string => `${item.tenant}:${item.kind}:${item.id}`
