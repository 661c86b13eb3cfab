import Fastify from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import type { Logger as PinoLogger } from 'pino'
import type { CallerVerifier } from './auth/caller.js'
import type { Config } from './config/load-config.js'
import { authentication } from './http/authentication.js'
import { errorHandler } from './http/error-handler.js'
import { requestIdOf } from './http/request-id.js'
import type { Readiness } from './observability/readiness.js'
import type { QlikGateway } from './qlik/qlik-gateway.js'
import type { RegionRegistry } from './regions/region-registry.js'
import { docs } from './routes/docs.js'
import { healthRoutes } from './routes/health.js'
import { regionRoutes } from './routes/regions.js'
import { tenantApiRoutes } from './routes/tenant-api.js'
import { tenantRoutes } from './routes/tenants.js'
import { createTenantLifecycle } from './tenants/tenant-lifecycle.js'

/** What the HTTP layer needs; production builds these in dependencies.ts, tests pass their own. */
export interface AppDeps {
  config: Config
  regions: RegionRegistry
  gateway: QlikGateway
  verifier: CallerVerifier
  readiness: Readiness
}

export interface AppOptions {
  logger: PinoLogger
}

/** The broker as a Fastify instance, not listening: server.ts listens, tests inject. */
export async function buildApp (deps: AppDeps, options: AppOptions) {
  const { config } = deps
  const app = Fastify({
    loggerInstance: options.logger,
    genReqId: requestIdOf,
    requestIdHeader: false,
    bodyLimit: config.server.bodyLimitBytes,
    requestTimeout: config.server.requestTimeoutMs,
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    return503OnClosing: true,
    // Tenant hostnames can be 253 characters long.
    routerOptions: { maxParamLength: 300 }
  }).withTypeProvider<ZodTypeProvider>()

  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  let closing = false
  app.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id) })
  // Requests in flight when the drain starts still finish; their keep-alive
  // connections must not hold the server open afterwards.
  app.addHook('onSend', async (_request, reply) => { if (closing) reply.header('connection', 'close') })
  app.addHook('preClose', async () => {
    closing = true
    deps.readiness.markClosing()
  })

  await app.register(errorHandler)
  await app.register(authentication, { verifier: deps.verifier })
  await app.register(docs, { ui: config.server.docsEnabled })
  await app.register(healthRoutes, { readiness: deps.readiness })
  await app.register(regionRoutes, { regions: deps.regions, readiness: deps.readiness })
  await app.register(tenantRoutes, {
    lifecycle: createTenantLifecycle({ regions: deps.regions, gateway: deps.gateway, tenantReadsVia: config.qlik.tenantReadsVia })
  })
  await app.register(tenantApiRoutes, { regions: deps.regions, gateway: deps.gateway })
  return app
}

export type BrokerApp = Awaited<ReturnType<typeof buildApp>>
