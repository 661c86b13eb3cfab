import { randomUUID } from 'node:crypto'
import { BrokerError, isBrokerError } from '../http/broker-error.js'
import { returnedResponseHeaders } from '../qlik/header-policy.js'
import type { UpstreamResponse } from '../qlik/upstream-client.js'
import type { AuditTrail } from '../audit/audit-trail.js'
import type { AuditEvent, AuditOutcome } from '../observability/audit.js'
import type { Logger } from '../observability/logger.js'
import { captureUpstream, isCaptured, type CapturedAnswer } from './captured-answer.js'
import { parseIdempotencyKey, requestFingerprint, storageKey } from './idempotency-key.js'
import { IdempotencyQuotaExceeded, type CompletedRecord, type IdempotencyRecord, type IdempotencyStore, type StoredAnswer, type UnknownRecord } from './idempotency-store.js'

/** Larger answers are kept without their body (Tenants API answers are a few kB). */
export const MAX_STORED_BODY_BYTES = 1_048_576
const DEFAULT_LEASE_MS = 10_000

/**
 * The storing rule, in one place:
 * - Qlik answered → stored and replayed as is (2xx, 4xx and 5xx alike: Qlik
 *   may have acted before a 5xx), except 401, 408 and 429, with which Qlik
 *   says it did not act and a later try may succeed: those release the key.
 * - Qlik was sent the request and did not answer (timeout, connection lost
 *   after sending), or the broker failed unexpectedly meanwhile → stored as
 *   unknown; every later request with the key gets the unknown-outcome
 *   problem and nothing is sent again.
 * - The broker refused or failed before anything reached Qlik (policy,
 *   unknown region or tenant, credentials or token unavailable, rate budget,
 *   open circuit, connection refused) → nothing stored: the caller may
 *   retry with the same key. (Validation failures never reach this code.)
 */
export function answerIsFinal (statusCode: number): boolean {
  return statusCode !== 401 && statusCode !== 408 && statusCode !== 429
}

/** Connection failures that happen before a request is written: Qlik cannot have seen it. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID'])

export function outcomeOfFailure (error: unknown): 'unknown' | 'not-sent' {
  if (!isBrokerError(error)) return 'unknown'
  if (error.code === 'QB_UPSTREAM_TIMEOUT') return 'unknown'
  if (error.code === 'QB_UPSTREAM_UNREACHABLE') {
    const code = (error.cause as { code?: unknown } | undefined)?.code
    return typeof code === 'string' && NOT_SENT_CODES.has(code) ? 'not-sent' : 'unknown'
  }
  return 'not-sent'
}

export interface RespondOptions {
  /**
   * Judges the request under the policy in force, as its work would (throws
   * QB_FORBIDDEN when refused), without sending anything. Run before any
   * answer that comes from the key (a replay, in progress, mismatch, unknown
   * outcome): a grant revoked since the first request stops its replays too.
   */
  authorize: () => Promise<void>
  /** The request's audit event, without its outcome: recorded here whenever the work itself does not run (and so does not record it). */
  event: Omit<AuditEvent, 'outcome'>
  /** The body as it identifies the request, when the route normalises it (e.g. no body = `{}`); default: the request's body. */
  body?: unknown
  /** How the caller can find out what happened when the outcome is unknown, e.g. "GET /regions/eu/api/v1/tenants/T1 shows its status". */
  check: string
}

export type Work = (idempotencyKey: string | undefined) => Promise<CapturedAnswer | UpstreamResponse>

/** What identifies a mutating request, as the HTTP layer received it. */
export interface KeyedRequest {
  /** The Idempotency-Key header as received, absent or not. */
  idempotencyKey: string | string[] | undefined
  caller: string
  method: string
  url: string
  /** Qlik's `qlik-confirm-hostname`, which changes what a create does. */
  confirmHostname: string | undefined
  body: unknown
  requestId: string
  log: Logger
}

/** A stored answer handed back for a repeated key. */
export interface ReplayedAnswer extends CapturedAnswer {
  replayed: { bodyOmitted: boolean }
}

/** Qlik's answer to this request (streamed or read), or the stored answer of its key's first request. */
export type IdempotentAnswer = CapturedAnswer | UpstreamResponse | ReplayedAnswer

export function isReplayed (answer: IdempotentAnswer): answer is ReplayedAnswer {
  return 'replayed' in answer
}

export interface Idempotency {
  /**
   * Runs `work` for a mutating request and returns its answer. With an
   * Idempotency-Key the work runs at most once per (caller, key, retention):
   * a repeat gets the stored answer (`Idempotent-Replayed: true`), 409 while
   * the first is in progress, 422 when it is a different request, and the
   * unknown-outcome problem when the first got no answer from Qlik.
   */
  respond (request: KeyedRequest, options: RespondOptions, work: Work): Promise<IdempotentAnswer>
}

export interface IdempotencyOptions {
  store: IdempotencyStore
  /** Where the requests answered without running their work leave their one event. */
  audit: AuditTrail
  retentionMs: number
  /** Lease of an in-progress claim, renewed while the request runs; a holder that dies stops renewing. */
  leaseMs?: number
}

function toStored (answer: CapturedAnswer): StoredAnswer {
  const headers = returnedResponseHeaders(answer.headers)
  if (answer.body.length > MAX_STORED_BODY_BYTES) return { statusCode: answer.statusCode, headers, body: '', bodyOmitted: true }
  return { statusCode: answer.statusCode, headers, body: answer.body.toString('base64') }
}

function unknownOutcome (record: UnknownRecord): BrokerError {
  return new BrokerError('QB_IDEMPOTENCY_OUTCOME_UNKNOWN', `The request first sent with this Idempotency-Key (request id ${record.requestId}, ${record.startedAt}) got no answer from Qlik: ${record.reason} It may or may not have been carried out, and the broker will not send it again. ${record.check} If it still has to be done, send it with a new Idempotency-Key.`)
}

export function createIdempotency (options: IdempotencyOptions): Idempotency {
  const { store, retentionMs } = options
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS

  function replay (request: KeyedRequest, record: CompletedRecord): ReplayedAnswer {
    const { answer } = record
    request.log.info({ idempotentReplayOf: record.requestId, status: answer.statusCode }, 'idempotent replay')
    return { statusCode: answer.statusCode, headers: answer.headers, body: Buffer.from(answer.body, 'base64'), replayed: { bodyOmitted: answer.bodyOmitted === true } }
  }

  /** Records the one audit event of a request answered from its key, then hands on the answer or the refusal. */
  async function recorded<T> (request: KeyedRequest, event: RespondOptions['event'], outcome: AuditOutcome, answer: T, upstreamStatus?: number): Promise<T> {
    options.audit.record(request.log, { ...event, outcome, ...(upstreamStatus === undefined ? {} : { upstreamStatus }) })
    return answer
  }

  async function answerExisting (request: KeyedRequest, key: string, fingerprint: string, record: IdempotencyRecord, alive: boolean, respondOptions: RespondOptions): Promise<ReplayedAnswer> {
    const { event, check } = respondOptions
    // IETF draft: a key reused for another request is refused whatever state the first is in.
    if (record.fingerprint !== fingerprint) {
      throw await recorded(request, event, 'mismatch', new BrokerError('QB_IDEMPOTENCY_MISMATCH', `this Idempotency-Key was first used (request id ${record.requestId}) for a different request (method, path or body); use a new key for a new request`))
    }
    if (record.state === 'completed') {
      await recorded(request, event, 'replayed', undefined, record.answer.statusCode)
      return replay(request, record)
    }
    if (record.state === 'unknown') throw await recorded(request, event, 'outcome-unknown', unknownOutcome(record))
    if (!alive) {
      // Its holder stopped renewing: it died, maybe after sending. Nobody can know, so nobody sends it again.
      const abandoned: UnknownRecord = {
        state: 'unknown',
        fingerprint,
        requestId: record.requestId,
        startedAt: record.startedAt,
        completedAt: new Date().toISOString(),
        reason: 'the broker replica handling it stopped before it recorded Qlik\'s answer.',
        check
      }
      if (await store.settle(key, record.owner, abandoned, retentionMs, { onlyIfAbandoned: true })) throw await recorded(request, event, 'outcome-unknown', unknownOutcome(abandoned))
    }
    throw await recorded(request, event, 'in-progress', new BrokerError('QB_IDEMPOTENCY_IN_PROGRESS', `the first request with this Idempotency-Key (request id ${record.requestId}) is still in progress; retry after it completes to get its answer`, { headers: { 'retry-after': '1' } }))
  }

  /** The policy in force judges a request answered from its key, as it judges one that runs; its refusal is the request's one event. */
  async function authorizeFromKey (request: KeyedRequest, respondOptions: RespondOptions): Promise<void> {
    try {
      await respondOptions.authorize()
    } catch (error) {
      const denied = isBrokerError(error) && error.code === 'QB_FORBIDDEN'
      options.audit.record(request.log, { ...respondOptions.event, outcome: denied ? 'denied' : isBrokerError(error) && error.statusCode < 500 ? 'refused' : 'failed' })
      throw error
    }
  }

  return {
    async respond (request, respondOptions, work) {
      let key: string | undefined
      try {
        key = parseIdempotencyKey(request.idempotencyKey)
      } catch (error) {
        throw await recorded(request, respondOptions.event, 'refused', error)
      }
      if (key === undefined) return await work(undefined)
      const { caller } = request
      const fingerprint = requestFingerprint({
        caller,
        method: request.method,
        url: request.url,
        confirmHostname: request.confirmHostname,
        body: 'body' in respondOptions ? respondOptions.body : request.body
      })
      const storeKey = storageKey(caller, key)
      const owner = randomUUID()
      const base = { fingerprint, requestId: request.requestId, startedAt: new Date().toISOString() }
      let claim
      try {
        claim = await store.claim(storeKey, { ...base, state: 'in-progress', owner }, retentionMs, leaseMs)
      } catch (error) {
        if (error instanceof IdempotencyQuotaExceeded) {
          throw await recorded(request, { ...respondOptions.event, idempotencyKey: key }, 'refused', new BrokerError('QB_IDEMPOTENCY_QUOTA_EXCEEDED', `caller "${caller}" holds as many Idempotency-Keys as it may keep (IDEMPOTENCY_MAX_KEYS_PER_CALLER per retention window); nothing was sent to Qlik. Retry later, or send the request without a key`, { headers: { 'retry-after': '60' } }))
        }
        throw await recorded(request, respondOptions.event, 'failed', new BrokerError('QB_IDEMPOTENCY_UNAVAILABLE', 'the broker cannot check Idempotency-Keys right now (its store is unreachable); nothing was sent to Qlik, retry with the same key', { headers: { 'retry-after': '5' }, cause: error }))
      }
      if (!claim.claimed) {
        const keyed = { ...respondOptions, event: { ...respondOptions.event, idempotencyKey: key } }
        await authorizeFromKey(request, keyed)
        return await answerExisting(request, storeKey, fingerprint, claim.record, claim.alive, keyed)
      }

      const renewal = setInterval(() => { store.renew(storeKey, owner, leaseMs).catch(() => {}) }, Math.max(100, Math.floor(leaseMs / 3)))
      renewal.unref()
      let answer: CapturedAnswer
      try {
        const result = await work(key)
        answer = isCaptured(result) ? result : await captureUpstream(result)
      } catch (error) {
        clearInterval(renewal)
        if (outcomeOfFailure(error) === 'unknown') {
          const reason = isBrokerError(error) ? error.message : 'the broker failed while the request was under way.'
          const unknown: UnknownRecord = { ...base, state: 'unknown', completedAt: new Date().toISOString(), reason: /[.!?]$/.test(reason) ? reason : `${reason}.`, check: respondOptions.check }
          await store.settle(storeKey, owner, unknown, retentionMs).catch((settleError: unknown) => {
            request.log.error({ err: (settleError as Error).message }, 'could not record an unknown outcome for an Idempotency-Key; repeats will see it in progress until its lease lapses, then as unknown')
          })
        } else {
          await store.release(storeKey, owner).catch((releaseError: unknown) => {
            request.log.warn({ err: (releaseError as Error).message }, 'could not release an Idempotency-Key after a refused request; repeats will see it as unknown once its lease lapses')
          })
        }
        throw error
      }
      clearInterval(renewal)
      try {
        if (answerIsFinal(answer.statusCode)) await store.settle(storeKey, owner, { ...base, state: 'completed', completedAt: new Date().toISOString(), answer: toStored(answer) }, retentionMs)
        else await store.release(storeKey, owner)
      } catch (error) {
        // The caller still gets Qlik's answer; repeats will report the outcome unknown rather than act twice.
        request.log.error({ err: (error as Error).message, status: answer.statusCode }, 'could not store the answer for an Idempotency-Key')
      }
      return answer
    }
  }
}
