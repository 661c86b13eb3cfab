import type { Logger } from './logger.js'

export interface AuditEvent {
  requestId: string
  caller: string
  region: string
  action: string
  tenant?: string | undefined
  outcome: 'allowed' | 'denied' | 'failed'
  upstreamStatus?: number | undefined
  durationMs?: number | undefined
}

/** One line per tenant action, marked `audit: true` so log pipelines can route it. */
export function audit (logger: Logger, event: AuditEvent): void {
  logger.info({ audit: true, ...event }, `audit ${event.action} ${event.outcome}`)
}
