import { isBrokerError } from '../http/broker-error.js'
import type { AuditEvent } from '../observability/audit.js'
import type { Logger } from '../observability/logger.js'
import type { AuditTrail } from './audit-trail.js'

/**
 * Runs one action and records its one audit event: allowed (with Qlik's
 * status) when Qlik answered, denied when policy refused it, failed otherwise.
 */
export async function auditedCall<T extends { statusCode: number }> (trail: AuditTrail, logger: Logger, event: Omit<AuditEvent, 'outcome'>, work: () => Promise<T>): Promise<T> {
  const started = performance.now()
  let result: T
  try {
    result = await work()
  } catch (error) {
    const denied = isBrokerError(error) && error.code === 'QB_FORBIDDEN'
    trail.record(logger, denied ? { ...event, outcome: 'denied' } : { ...event, outcome: 'failed', durationMs: Math.round(performance.now() - started) })
    throw error
  }
  trail.record(logger, { ...event, outcome: 'allowed', upstreamStatus: result.statusCode, durationMs: Math.round(performance.now() - started) })
  return result
}
