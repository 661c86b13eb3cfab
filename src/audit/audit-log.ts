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

/** The fields of an event, flat strings (a Redis stream entry); absent fields are left out. */
export function toFields (event: AuditRecord): string[] {
  const fields: string[] = []
  for (const name of FIELD_NAMES) {
    const value = event[name]
    if (value !== undefined) fields.push(name, String(value))
  }
  return fields
}

const FIELD_NAMES = ['time', 'requestId', 'callerRequestId', 'caller', 'region', 'tenant', 'tenantHostname', 'action', 'outcome', 'upstreamStatus', 'durationMs', 'idempotencyKey', 'method', 'path'] as const satisfies ReadonlyArray<keyof AuditRecord>
const NUMERIC = new Set<string>(['upstreamStatus', 'durationMs'])
const OUTCOMES = new Set<string>(AUDIT_OUTCOMES)

export function fromFields (fields: readonly string[]): AuditRecord | undefined {
  const values = new Map<string, string>()
  for (let index = 0; index + 1 < fields.length; index += 2) values.set(fields[index] ?? '', fields[index + 1] ?? '')
  const outcome = values.get('outcome')
  const required = ['time', 'requestId', 'caller', 'region', 'action'].map((name) => values.get(name))
  if (required.some((value) => value === undefined) || outcome === undefined || !OUTCOMES.has(outcome)) return undefined
  const record: Record<string, string | number> = {}
  for (const [name, value] of values) {
    if (!(FIELD_NAMES as readonly string[]).includes(name)) continue
    record[name] = NUMERIC.has(name) ? Number(value) : value
  }
  return record as unknown as AuditRecord
}

/** Stream ids compare as (ms, seq). */
export function compareIds (a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number)
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number)
  return aMs === bMs ? aSeq - bSeq : aMs - bMs
}
