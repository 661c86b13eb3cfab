/** An answer as the caller got it, kept to be replayed. No token or secret is ever in one: it is Qlik's answer to the caller. */
export interface StoredAnswer {
  statusCode: number
  /** The response headers the broker hands back (see header-policy.ts), nothing else. */
  headers: Record<string, string | string[]>
  /** The body, base64. */
  body: string
  /** The body was larger than the broker keeps: a replay has the status and headers only. */
  bodyOmitted?: true
}

interface RecordBase {
  /** sha-256 over caller, method, path, confirm header and body: the same key must come with the same request. */
  fingerprint: string
  /** Request id of the first request with the key, so a replay can point at its logs and audit event. */
  requestId: string
  startedAt: string
}

export interface InProgressRecord extends RecordBase {
  state: 'in-progress'
  /** Random per attempt: only the request that claimed the key may settle or release it. */
  owner: string
}

export interface CompletedRecord extends RecordBase {
  state: 'completed'
  completedAt: string
  answer: StoredAnswer
}

/** Sent to Qlik, no answer: it may or may not have been carried out, so it is never sent again. */
export interface UnknownRecord extends RecordBase {
  state: 'unknown'
  completedAt: string
  /** What happened, for the caller (no secrets: a broker error message). */
  reason: string
  /** How the caller can find out what happened. */
  check: string
}

export type IdempotencyRecord = InProgressRecord | CompletedRecord | UnknownRecord
export type SettledRecord = CompletedRecord | UnknownRecord

export type ClaimResult =
  | { claimed: true }
  /** `alive`: for an in-progress record, whether its holder still renews its lease. */
  | { claimed: false, record: IdempotencyRecord, alive: boolean }

/**
 * Idempotency records, one per (caller, key), shared by every replica.
 * Claiming is atomic: exactly one request gets `claimed: true` for a key
 * until that request releases it. A claim carries a lease the holder renews;
 * a holder that dies stops renewing, and the record then reads `alive: false`.
 */
export interface IdempotencyStore {
  readonly kind: string
  /** Takes the key when nobody holds it (set-if-absent), else returns what is stored. */
  claim (key: string, record: InProgressRecord, retentionMs: number, leaseMs: number): Promise<ClaimResult>
  /** Extends the holder's lease; false when the key is no longer its own. */
  renew (key: string, owner: string, leaseMs: number): Promise<boolean>
  /**
   * Replaces the holder's in-progress record with its outcome, kept for
   * `retentionMs`. With `onlyIfAbandoned`, only when the holder's lease ran
   * out (another request declaring a dead holder's outcome unknown).
   * False when the record is no longer `owner`'s in-progress record.
   */
  settle (key: string, owner: string, record: SettledRecord, retentionMs: number, options?: { onlyIfAbandoned?: boolean }): Promise<boolean>
  /** Forgets the holder's claim: nothing reached Qlik, the same key may be used again. */
  release (key: string, owner: string): Promise<void>
  close (): Promise<void>
}

/** Thrown by `claim` when the caller holds as many keys as it may (a per-caller bound); nothing was claimed. */
export class IdempotencyQuotaExceeded extends Error {
  override readonly name = 'IdempotencyQuotaExceeded'
}

export function parseRecord (text: string): IdempotencyRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<IdempotencyRecord> | null
    if (value === null || typeof value !== 'object' || typeof value.fingerprint !== 'string') return undefined
    if (value.state === 'in-progress' || value.state === 'completed' || value.state === 'unknown') return value as IdempotencyRecord
  } catch {}
  return undefined
}
