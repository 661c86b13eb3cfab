import type { FastifyRequest } from 'fastify'
import { IDEMPOTENCY_KEY_HEADER } from '../idempotency/idempotency-key.js'
import type { KeyedRequest } from '../idempotency/idempotency.js'
import { callerOf } from './authentication.js'

/** What the idempotency rules need of an authenticated mutating request. */
export function keyedRequestOf (request: FastifyRequest): KeyedRequest {
  const confirm = request.headers['qlik-confirm-hostname']
  return {
    idempotencyKey: request.raw.headers[IDEMPOTENCY_KEY_HEADER],
    caller: callerOf(request).name,
    method: request.method,
    url: request.url,
    confirmHostname: typeof confirm === 'string' ? confirm : undefined,
    body: request.body,
    requestId: request.id,
    log: request.log
  }
}
