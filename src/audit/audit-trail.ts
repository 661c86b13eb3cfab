import { tenantKey } from '../auth/policy.js'
import { BrokerError } from '../http/broker-error.js'
import { audit, callerRequestIdOf, type AuditEvent } from '../observability/audit.js'
import type { Logger } from '../observability/logger.js'
import { redactUrl } from '../observability/redact-url.js'
import type { AuditLog, AuditRange, AuditRecord, StoredAuditRecord } from './audit-log.js'
import { isoTime } from './iso-time.js'

export interface AuditQuery {
  caller?: string | undefined
  region?: string | undefined
  /** Any name of one tenant (id, hostnames): an event matches when its tenant id or hostname is one of them. */
  tenants?: readonly string[] | undefined
  /** Inclusive bounds on the event time (epoch ms). */
  sinceMs?: number | undefined
  untilMs?: number | undefined
  limit: number
  cursor?: string | undefined
}

export interface AuditPage {
  events: Array<AuditRecord & { id: string }>
  /** Present when older matching events may exist: pass it back as `cursor`. */
  nextCursor?: string
}

/**
 * The broker's audit logger: each action gives one `audit: true` log line
 * (as before) and one entry in the audit log (a Redis stream shared by the
 * replicas, or an in-process ring). Recording never fails a request: when
 * the log cannot be written, the log line still is, and the failure is
 * reported once per interval.
 */
export interface AuditTrail {
  readonly kind: string
  /** Synchronous: the log line is written at once and the stored entry queued; recording never waits and never fails the request. */
  record (logger: Logger, event: AuditEvent): void
  /** Newest first; `visible` is the caller's policy over each event. */
  query (query: AuditQuery, visible: (event: AuditRecord) => boolean | Promise<boolean>): Promise<AuditPage>
  /** Writes what the log still holds (shutdown). */
  close (): Promise<void>
}

/** Stream ids carry Redis's clock, events the broker's: widen the id range by this, then filter on the event time. */
const CLOCK_SLACK_MS = 5 * 60_000
const SCAN_BUDGET = 10_000
const BATCH = 500
const CURSOR_ID = /^\d{1,16}-\d{1,16}$/

export function encodeAuditCursor (id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url')
}

export function decodeAuditCursor (cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8')
  if (!CURSOR_ID.test(id)) throw new BrokerError('QB_INVALID_REQUEST', 'the cursor is not one this broker gave out', { issues: [{ pointer: '/querystring/cursor', message: 'not a valid cursor' }] })
  return id
}

/** Whether an event's tenant (its id, or the hostname it went to) is one of these names; ids compare exactly, hostnames without case or a trailing dot. */
export function namesTenant (event: Pick<AuditRecord, 'tenant' | 'tenantHostname'>, names: readonly string[]): boolean {
  const wanted = new Set(names.map(tenantKey))
  return [event.tenant, event.tenantHostname].some((name) => name !== undefined && wanted.has(tenantKey(name)))
}

export function createAuditTrail (options: { log: AuditLog, logger: Logger, failureReportIntervalMs?: number, now?: () => number }): AuditTrail {
  const { log, logger } = options
  const now = options.now ?? Date.now
  const interval = options.failureReportIntervalMs ?? 60_000
  let lastReported = Number.NEGATIVE_INFINITY
  let unreported = 0

  function matches (event: AuditRecord, query: AuditQuery): boolean {
    if (query.caller !== undefined && event.caller !== query.caller) return false
    if (query.region !== undefined && event.region !== query.region) return false
    if (query.tenants !== undefined && !namesTenant(event, query.tenants)) return false
    const time = Date.parse(event.time)
    if (query.sinceMs !== undefined && time < query.sinceMs) return false
    if (query.untilMs !== undefined && time > query.untilMs) return false
    return true
  }

  /** One handler for every event the log could not store (not a closure per event). */
  function reportUnstored (error: unknown): void {
    unreported++
    if (now() - lastReported >= interval) {
      logger.warn({ err: (error as Error).message, eventsNotStored: unreported }, `audit events could not be stored in the ${log.kind} audit log; they are in the audit log lines only`)
      lastReported = now()
      unreported = 0
    }
  }

  /** A store that cannot be read (Redis down) is the broker's dependency being out, not a broker bug: 503 with a clear problem. */
  async function readOrUnavailable (range: AuditRange): Promise<StoredAuditRecord[]> {
    try {
      return await log.read(range)
    } catch (error) {
      throw new BrokerError('QB_AUDIT_UNAVAILABLE', `the audit trail (${log.kind}) cannot be read right now; events are still recorded and can be read once it is back`, { headers: { 'retry-after': '5' }, cause: error })
    }
  }

  return {
    kind: log.kind,
    record (requestLogger, given) {
      // A path never carries its query today; should one ever, no credential in it is recorded.
      const redacted = given.path === undefined ? undefined : redactUrl(given.path)
      const event = redacted === given.path ? given : { ...given, path: redacted }
      audit(requestLogger, event)
      const callerRequestId = event.callerRequestId ?? callerRequestIdOf(requestLogger)
      const record: AuditRecord = { time: isoTime(now()), ...event }
      if (callerRequestId !== undefined) record.callerRequestId = callerRequestId
      // Not awaited: the request does not wait for the audit store, and an
      // outage there never fails it (the log line above is already written).
      log.append(record).catch(reportUnstored)
    },
    async close () {
      await log.close()
    },
    async query (query, visible) {
      const fromMs = query.sinceMs === undefined ? undefined : query.sinceMs - CLOCK_SLACK_MS
      const toMs = query.untilMs === undefined ? undefined : query.untilMs + CLOCK_SLACK_MS
      let before = query.cursor === undefined ? undefined : decodeAuditCursor(query.cursor)
      const events: AuditPage['events'] = []
      let scanned = 0
      for (;;) {
        const count = Math.min(BATCH, SCAN_BUDGET - scanned)
        const batch = await readOrUnavailable({ before, fromMs, toMs, count })
        for (const { id, event } of batch) {
          scanned++
          before = id
          if (!matches(event, query) || !(await visible(event))) continue
          events.push({ id, ...event })
          if (events.length === query.limit) return { events, nextCursor: encodeAuditCursor(id) }
        }
        if (batch.length < count) return { events }
        if (scanned >= SCAN_BUDGET) return before === undefined ? { events } : { events, nextCursor: encodeAuditCursor(before) }
      }
    }
  }
}
