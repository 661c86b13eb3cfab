import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** What a caller's id may hold once kept: no spaces, quotes, control or non-ASCII characters (log injection). */
const UNSAFE_CHARACTERS = /[^A-Za-z0-9._:-]/g
export const MAX_CALLER_REQUEST_ID_LENGTH = 128

/**
 * The broker's own id for a request: the `requestId` of its log lines, its
 * audit event, its problem bodies, the `x-request-id` sent to Qlik and
 * returned to the caller. Never chosen by the caller, so a caller cannot make
 * its requests look like another's in the audit trail or the logs.
 */
export function brokerRequestId (): string {
  return randomUUID()
}

/**
 * The caller's own `x-request-id`, kept beside the broker's id
 * (`callerRequestId` in logs and audit events) so a caller can still find its
 * calls: stripped of anything but a safe set of characters and cut to
 * MAX_CALLER_REQUEST_ID_LENGTH; undefined when none (or nothing usable) was sent.
 */
export function callerRequestIdOf (headers: IncomingHttpHeaders): string | undefined {
  const given = headers['x-request-id']
  if (typeof given !== 'string') return undefined
  const kept = given.replace(UNSAFE_CHARACTERS, '').slice(0, MAX_CALLER_REQUEST_ID_LENGTH)
  return kept.length === 0 ? undefined : kept
}
