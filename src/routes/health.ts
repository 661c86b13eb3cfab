import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Readiness } from '../observability/readiness.js'

// Probes are unauthenticated: they say ready or not, nothing else. Why a
// replica is not ready (regions, hostnames, secret paths) is in GET /regions.
const ReadinessSchema = z.object({
  ready: z.boolean()
}).meta({ id: 'Readiness', description: 'Whether this replica can serve. Details are in GET /regions (authenticated).' })

/** Probes: liveness is the process alone; readiness is "this replica can serve now". */
export const healthRoutes: FastifyPluginAsyncZod<{ readiness: Readiness }> = async (app, { readiness }) => {
  app.get('/livez', {
    logLevel: 'warn',
    schema: { tags: ['Probes'], summary: 'Liveness: the process answers', response: { 200: z.object({ status: z.literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    logLevel: 'warn',
    schema: {
      tags: ['Probes'],
      summary: 'Readiness: not shutting down and a region (or each one in BROKER_READY_REGIONS) has usable credentials',
      response: { 200: ReadinessSchema, 503: ReadinessSchema }
    }
  }, async (_request, reply) => {
    const { ready } = readiness.report()
    return reply.code(ready ? 200 : 503).send({ ready })
  })
}
