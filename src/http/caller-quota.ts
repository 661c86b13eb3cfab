import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { QuotaCounter, QuotaLimit } from '../quota/quota-counter.js'
import { BrokerError } from './broker-error.js'
import { addRouteHook } from './route-facts.js'

/**
 * One caller cannot spend the whole shared Qlik budget: each authenticated
 * request counts against the caller's quota, answered with RateLimit headers
 * (IETF draft) and, past the quota, 429 with Retry-After.
 */
async function callerQuotaPlugin (app: FastifyInstance, options: { counter: QuotaCounter, defaultLimit: QuotaLimit }): Promise<void> {
  // A callback hook: taking a slot never waits (the counter answers from memory), so no promise and then() per request.
  const count = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void => {
    if (request.caller === null) {
      done()
      return
    }
    const limit = request.caller.quota ?? options.defaultLimit
    const decision = options.counter.take(request.caller.name, limit)
    const resetSeconds = Math.max(1, Math.ceil(decision.resetMs / 1000))
    reply.header('ratelimit-policy', `${decision.limit};w=${Math.round(limit.windowMs / 1000)}`)
    reply.header('ratelimit-limit', String(decision.limit))
    reply.header('ratelimit-remaining', String(decision.remaining))
    reply.header('ratelimit-reset', String(resetSeconds))
    if (!decision.allowed) {
      done(new BrokerError('QB_QUOTA_EXCEEDED', `caller "${request.caller.name}" used its ${decision.limit} requests of this ${Math.round(limit.windowMs / 1000)} s window`, { headers: { 'retry-after': String(resetSeconds) } }))
      return
    }
    done()
  }
  // After authentication's own route-level hook (registered first), on the same routes.
  app.addHook('onRoute', (route) => {
    if (route.config?.authenticate === true) addRouteHook(route, count)
  })
}

export const callerQuota = fp(callerQuotaPlugin, { name: 'qlik-broker-caller-quota', fastify: '5.x', dependencies: ['qlik-broker-authentication'] })
