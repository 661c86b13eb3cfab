import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod'
import { BrokerError, type ErrorIssue } from './broker-error.js'
import { redactUrl } from '../observability/redact-url.js'
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.js'

/** Fastify's own client-error codes and what the broker calls them. */
const FASTIFY_CLIENT_ERRORS: Record<string, (error: FastifyError) => BrokerError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new BrokerError('QB_PAYLOAD_TOO_LARGE', 'the request body is larger than the broker accepts'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (error) => new BrokerError('QB_UNSUPPORTED_MEDIA_TYPE', error.message),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new BrokerError('QB_INVALID_REQUEST', 'the content-length header does not match the body'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new BrokerError('QB_INVALID_REQUEST', 'the content type is application/json but the body is empty', { issues: [{ pointer: '/body', message: 'expected a JSON body' }] }),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new BrokerError('QB_INVALID_REQUEST', 'the body is not valid JSON', { issues: [{ pointer: '/body', message: 'not valid JSON' }] })
}

function toBrokerError (error: FastifyError): BrokerError | undefined {
  if (error instanceof BrokerError) return error
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = error.validationContext ?? 'body'
    const issues: ErrorIssue[] = error.validation.map((issue) => ({ pointer: `/${context}${issue.instancePath === '/' ? '' : issue.instancePath}`, message: issue.message ?? 'invalid' }))
    return new BrokerError('QB_INVALID_REQUEST', `the request ${context} is not valid: ${issues.map((issue) => `${issue.pointer}: ${issue.message}`).join('; ')}`, { issues })
  }
  if (error.code !== undefined && error.code in FASTIFY_CLIENT_ERRORS) return FASTIFY_CLIENT_ERRORS[error.code]?.(error)
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new BrokerError('QB_INVALID_REQUEST', error.message)
  }
  return undefined
}

export function sendProblem (reply: FastifyReply, request: FastifyRequest, error: BrokerError): FastifyReply {
  return reply
    .code(error.statusCode)
    .headers(error.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(toProblem(error, request.id))
}

/**
 * One place turns every failure into problem+json. 4xx are logged at info
 * (the caller's mistake), 5xx at error with the cause; a 5xx body never
 * carries internals or anything Qlik or Vault said.
 */
async function errorHandlerPlugin (app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isResponseSerializationError(error)) {
      request.log.error({ err: error }, 'response did not match its schema (a broker bug)')
      return sendProblem(reply, request, new BrokerError('QB_INTERNAL', 'the broker could not produce a valid response'))
    }
    const known = toBrokerError(error)
    if (known === undefined) {
      request.log.error({ err: error }, 'unexpected error')
      return sendProblem(reply, request, new BrokerError('QB_INTERNAL', 'the broker failed to handle the request; the request id identifies it in the broker logs'))
    }
    if (known.statusCode >= 500) request.log.error({ err: known, cause: describeCause(known.cause) }, known.message)
    else request.log.info({ code: known.code, detail: known.message }, 'request refused')
    return sendProblem(reply, request, known)
  })

  app.setNotFoundHandler((request, reply) => {
    request.log.info({ method: request.method, url: redactUrl(request.url) }, 'no such route')
    return sendProblem(reply, request, new BrokerError('QB_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}; see /docs`))
  })
}

/**
 * Refusals Fastify's router makes before any route runs (Fastify's
 * `frameworkErrors` option): a path that cannot be percent-decoded
 * (`%c0%ae`), a path parameter longer than the router keeps. Same
 * problem+json as every other refusal, with a stable code.
 */
export function frameworkErrorProblem (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const problem = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
    ? new BrokerError('QB_URI_TOO_LONG', 'a segment of the request path is longer than the broker accepts (a tenant hostname is at most 253 characters)')
    : error.code === 'FST_ERR_BAD_URL'
      ? new BrokerError('QB_INVALID_URL', 'the request path holds a percent-encoding that is not valid UTF-8', { issues: [{ pointer: '/url', message: 'not a valid percent-encoded path' }] })
      : new BrokerError('QB_INVALID_REQUEST', 'the request could not be routed')
  request.log.info({ code: problem.code, fastifyCode: error.code }, 'request refused by the router')
  // No hook runs for these: the id the other answers get in app.ts is set here.
  reply.header('x-request-id', request.id)
  // A FastifyReply is thenable but sending does not reject; Fastify wants nothing back from this callback.
  // eslint-disable-next-line no-void
  void sendProblem(reply, request, problem)
}

const CLIENT_ERRORS: Record<string, BrokerError> = {
  ERR_HTTP_REQUEST_TIMEOUT: new BrokerError('QB_REQUEST_TIMEOUT', 'the request headers or body did not arrive in time'),
  HPE_HEADER_OVERFLOW: new BrokerError('QB_HEADERS_TOO_LARGE', 'the request headers are larger than the broker accepts')
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (malformed
 * HTTP, headers too large, too slow): answered on the socket as
 * problem+json with a stable code, then the connection is closed.
 */
export function clientErrorHandler (error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  if (socket.writable) {
    const known = (error.code === undefined ? undefined : CLIENT_ERRORS[error.code]) ?? new BrokerError('QB_INVALID_REQUEST', 'the request is not valid HTTP')
    const body = JSON.stringify(toProblem(known, randomUUID()))
    socket.write(`HTTP/1.1 ${known.statusCode} ${known.title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(error)
}

function describeCause (cause: unknown): string | undefined {
  if (cause === undefined) return undefined
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`
  return String(cause)
}

export const errorHandler = fp(errorHandlerPlugin, { name: 'qlik-broker-error-handler', fastify: '5.x' })
