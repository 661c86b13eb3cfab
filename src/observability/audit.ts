import type { Logger } from './logger.js'

export interface AuditEvent {
  requestId: string
  caller: string
  region: string
  action: string
  /** The tenant's id when the broker knows it, else the hostname it was named by (lowercase, no trailing dot). */
  tenant?: string | undefined
  /** The tenant's hostname when known: the host the call went to, or the registry's first hostname. */
  tenantHostname?: string | undefined
  outcome: 'allowed' | 'denied' | 'failed'
  upstreamStatus?: number | undefined
  durationMs?: number | undefined
  /** The caller's Idempotency-Key, when it sent one. */
  idempotencyKey?: string | undefined
  /** Tenant-level pass-through calls: method and path (no query string). */
  method?: string | undefined
  path?: string | undefined
}

/** One line per tenant action, marked `audit: true` so log pipelines can route it. */
export function audit (logger: Logger, event: AuditEvent): void {
  logger.info({ audit: true, ...event }, `audit ${event.action} ${event.outcome}`)
}
