import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Keeps a caller's `x-request-id` so one id follows a call through the
 * caller, the broker and Qlik; anything odd-looking (log injection, huge
 * values) is replaced by a fresh UUID.
 */
export function requestIdOf (request: IncomingMessage): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && ACCEPTABLE_REQUEST_ID.test(given) ? given : randomUUID()
}
