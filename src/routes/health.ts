import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Readiness } from '../observability/readiness.js'
import { RegionSchema } from './regions.js'

const ReadinessSchema = z.object({
  ready: z.boolean(),
  closing: z.boolean(),
  secretsSource: z.object({ kind: z.string(), reachable: z.boolean() }),
  regions: z.array(RegionSchema)
}).meta({ id: 'Readiness' })

/** Probes: liveness is the process alone; readiness is "can serve tenant actions now". */
export const healthRoutes: FastifyPluginAsyncZod<{ readiness: Readiness }> = async (app, { readiness }) => {
  app.get('/livez', {
    logLevel: 'warn',
    schema: { tags: ['Probes'], summary: 'Liveness: the process answers', response: { 200: z.object({ status: z.literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    logLevel: 'warn',
    schema: {
      tags: ['Probes'],
      summary: 'Readiness: not shutting down and every region has usable credentials',
      response: { 200: ReadinessSchema, 503: ReadinessSchema }
    }
  }, async (_request, reply) => {
    const report = readiness.report()
    return reply.code(report.ready ? 200 : 503).send(report)
  })
}
