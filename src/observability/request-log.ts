import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import { routeFactsOf } from '../http/route-facts.js'
import { redactUrl } from './redact-url.js'

/**
 * One line per request, written when the answer is sent, instead of
 * Fastify's "incoming request" + "request completed" pair: half the log
 * volume and serialisation on the hot path. Routes marked `logLevel: 'warn'`
 * (the probes) are logged only when they fail.
 */
export class RequestLog extends LogController {
  constructor () {
    // Also keeps Fastify's own per-request error and not-found lines quiet: the error handler logs those.
    super({ disableRequestLogging: true })
  }

  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const statusCode = reply.statusCode
    const route = routeFactsOf(request)
    if (route.logLevel === 'warn' && statusCode < 500 && error == null) return
    const line = { method: request.method, url: redactUrl(request.url), route: route.url, statusCode, responseTimeMs: Math.round(reply.elapsedTime * 10) / 10 }
    if (error == null) request.log.info(line, 'request completed')
    else request.log.warn({ ...line, err: error.message }, 'request ended with a broken response stream')
  }
}
