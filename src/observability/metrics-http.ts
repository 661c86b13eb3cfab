import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { routeFactsOf } from '../http/route-facts.js'
import { metricsRoutes } from '../routes/metrics.js'
import type { BrokerMetrics } from './metrics.js'
import type { Tracing } from './tracing.js'

export interface ObservabilityOptions {
  metrics: BrokerMetrics
  tracing: Tracing
}

/**
 * Request metrics and (when on) tracing hooks for every route, and GET
 * /metrics. Registered before the routes: tracing wraps route handlers as
 * they are added.
 */
async function observabilityPlugin (app: FastifyInstance, { metrics, tracing }: ObservabilityOptions): Promise<void> {
  await app.register(tracing.http)
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern (`/regions/:region/...`), never the URL: bounded labels.
    metrics.observeRequest(request.method, routeFactsOf(request).url, reply.statusCode, reply.elapsedTime / 1000)
    done()
  })
  await app.register(metricsRoutes, { metrics })
}

export const observability = fp(observabilityPlugin, { name: 'qlik-broker-observability', fastify: '5.x' })
