import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { BrokerMetrics } from '../observability/metrics.js'

/**
 * Prometheus scrape endpoint. No authentication: it is scraped inside the
 * cluster (the chart's NetworkPolicy and ServiceMonitor), and it carries no
 * secret, token, tenant or hostname. Hidden from the OpenAPI document.
 */
export const metricsRoutes: FastifyPluginAsyncZod<{ metrics: BrokerMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    const text = await metrics.scrape()
    return reply.header('cache-control', 'no-store').type(metrics.contentType).send(text)
  })
}
