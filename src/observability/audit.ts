import pino from 'pino'
import type { Logger } from './logger.js'

/**
 * What became of an action:
 * - allowed: sent to Qlik and answered (see upstreamStatus);
 * - denied: refused by the policy in force;
 * - failed: the broker could not complete it;
 * - replayed: answered from the stored answer of its Idempotency-Key (upstreamStatus is the stored status);
 * - in-progress: refused because the first request with its Idempotency-Key is still running;
 * - mismatch: refused because its Idempotency-Key was first used for a different request;
 * - outcome-unknown: refused because the first request with its Idempotency-Key got no answer from Qlik;
 * - refused: refused by the broker before anything else (e.g. an invalid Idempotency-Key header).
 */
export const AUDIT_OUTCOMES = ['allowed', 'denied', 'failed', 'replayed', 'in-progress', 'mismatch', 'outcome-unknown', 'refused'] as const
export type AuditOutcome = typeof AUDIT_OUTCOMES[number]

export interface AuditEvent {
  /** The broker's id of the request (never the caller's choice). */
  requestId: string
  /** The caller's `x-request-id`, sanitised and bounded (src/http/request-id.ts), when it sent one. */
  callerRequestId?: string | undefined
  caller: string
  region: string
  action: string
  /** The tenant's id when the broker knows it, else the hostname it was named by (lowercase, no trailing dot). */
  tenant?: string | undefined
  /** The tenant's hostname when known: the host the call went to, or the registry's first hostname. */
  tenantHostname?: string | undefined
  outcome: AuditOutcome
  upstreamStatus?: number | undefined
  durationMs?: number | undefined
  /** The caller's Idempotency-Key, when it sent one. */
  idempotencyKey?: string | undefined
  /** Tenant-level pass-through calls: method and path (no query string). */
  method?: string | undefined
  path?: string | undefined
}

/**
 * The caller's request id, which the request's logger carries as a binding
 * (set once in app.ts for every request), so every audit event gets it
 * without each route passing it along.
 */
export function callerRequestIdOf (logger: Logger): string | undefined {
  // bindings() parses the logger's serialised bindings: most requests carry no caller id, and the string says so.
  const serialised = (logger as unknown as Record<symbol, unknown>)[pino.symbols.chindingsSym]
  if (typeof serialised === 'string' && !serialised.includes('"callerRequestId"')) return undefined
  const value = (logger as { bindings?: () => Record<string, unknown> }).bindings?.().callerRequestId
  return typeof value === 'string' ? value : undefined
}

/** One line per tenant action, marked `audit: true` so log pipelines can route it. */
export function audit (logger: Logger, event: AuditEvent): void {
  logger.info({ audit: true, ...event }, `audit ${event.action} ${event.outcome}`)
}
