import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod'
import { BrokerError, type ErrorIssue } from './broker-error.js'
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
    request.log.info({ method: request.method, url: request.url }, 'no such route')
    return sendProblem(reply, request, new BrokerError('QB_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}; see /docs`))
  })
}

function describeCause (cause: unknown): string | undefined {
  if (cause === undefined) return undefined
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`
  return String(cause)
}

export const errorHandler = fp(errorHandlerPlugin, { name: 'qlik-broker-error-handler', fastify: '5.x' })
