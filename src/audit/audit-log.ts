import { AUDIT_OUTCOMES, type AuditEvent } from '../observability/audit.js'

/** An audit event as stored: the event and when it happened. Never a secret or token: every field is named here. */
export interface AuditRecord extends AuditEvent {
  time: string
}

export interface StoredAuditRecord {
  /** Position in the log (`<ms>-<seq>`, a Redis stream id), newest is greatest. */
  id: string
  event: AuditRecord
}

export interface AuditRange {
  /** Only entries before this id (exclusive): resuming a listing. */
  before?: string | undefined
  /** Only entries at or after / at or before these times (epoch ms of the id). */
  fromMs?: number | undefined
  toMs?: number | undefined
  count: number
}

/** Append-only, size-capped log of audit events, read newest first. */
export interface AuditLog {
  readonly kind: string
  append (event: AuditRecord): Promise<void>
  read (range: AuditRange): Promise<StoredAuditRecord[]>
  close (): Promise<void>
}

/** The one field of a stream entry that holds the whole event as JSON. */
export const EVENT_FIELD = 'event'

/**
 * A stream entry's fields: one, `event`, the record as JSON with the named
 * fields only (absent ones left out). One argument instead of two per field
 * is most of what an XADD costs the broker to encode (docs/benchmarks.md).
 */
export function toFields (event: AuditRecord): string[] {
  return [EVENT_FIELD, toEntryJson(event)]
}

/** The value of a stream entry's `event` field: the record's named fields as JSON. */
export function toEntryJson (event: AuditRecord): string {
  // Copied field by field rather than through JSON.stringify's allowlist argument, which V8 serialises on a slow path.
  const stored: Partial<Record<keyof AuditRecord, string | number>> = {}
  for (const name of FIELD_NAMES) {
    const value = event[name]
    if (value !== undefined) stored[name] = value
  }
  return JSON.stringify(stored)
}

const FIELD_NAMES = ['time', 'requestId', 'callerRequestId', 'caller', 'region', 'tenant', 'tenantHostname', 'action', 'outcome', 'upstreamStatus', 'durationMs', 'idempotencyKey', 'method', 'path'] as const satisfies ReadonlyArray<keyof AuditRecord>
const NUMERIC = new Set<string>(['upstreamStatus', 'durationMs'])
const OUTCOMES = new Set<string>(AUDIT_OUTCOMES)

/**
 * The record a stream entry holds, or undefined when it is not one: the
 * `event` JSON field, or one field per name as brokers before it wrote them
 * (entries already in the stream, replicas of an older version during a rollout).
 */
export function fromFields (fields: readonly string[]): AuditRecord | undefined {
  const values = new Map<string, string | number>()
  if (fields.length === 2 && fields[0] === EVENT_FIELD) {
    let parsed: unknown
    try {
      parsed = JSON.parse(fields[1] ?? '')
    } catch {
      return undefined
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
    for (const [name, value] of Object.entries(parsed)) if (typeof value === 'string' || typeof value === 'number') values.set(name, value)
  } else {
    for (let index = 0; index + 1 < fields.length; index += 2) values.set(fields[index] ?? '', fields[index + 1] ?? '')
  }
  const outcome = values.get('outcome')
  const required = ['time', 'requestId', 'caller', 'region', 'action'].map((name) => values.get(name))
  if (required.some((value) => typeof value !== 'string') || typeof outcome !== 'string' || !OUTCOMES.has(outcome)) return undefined
  const record: Record<string, string | number> = {}
  for (const [name, value] of values) {
    if (!(FIELD_NAMES as readonly string[]).includes(name)) continue
    record[name] = NUMERIC.has(name) ? Number(value) : String(value)
  }
  return record as unknown as AuditRecord
}

/** Stream ids compare as (ms, seq). */
export function compareIds (a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number)
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number)
  return aMs === bMs ? aSeq - bSeq : aMs - bMs
}
