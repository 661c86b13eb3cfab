import Fastify from 'fastify'
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import type { Logger as PinoLogger } from 'pino'
import type { CallerVerifier } from './auth/caller.js'
import type { Config } from './config/load-config.js'
import { authentication } from './http/authentication.js'
import { BrokerError } from './http/broker-error.js'
import { callerQuota } from './http/caller-quota.js'
import { overloadGuard } from './http/overload.js'
import { routeFacts } from './http/route-facts.js'
import { brokerValidatorCompiler } from './http/validation.js'
import { clientErrorHandler, errorHandler, frameworkErrorProblem } from './http/error-handler.js'
import { brokerRequestId, callerRequestIdOf } from './http/request-id.js'
import { createMetrics, type BrokerMetrics } from './observability/metrics.js'
import { observability } from './observability/metrics-http.js'
import type { Readiness } from './observability/readiness.js'
import { RequestLog } from './observability/request-log.js'
import { TRACING_OFF, type Tracing } from './observability/tracing.js'
import type { QlikGateway } from './qlik/qlik-gateway.js'
import type { QuotaCounter } from './quota/quota-counter.js'
import type { RegionRegistry } from './regions/region-registry.js'
import { docs } from './routes/docs.js'
import { createIdempotency } from './idempotency/idempotency.js'
import { createMemoryGovernance, type Governance } from './registry/governance.js'
import { auditRoutes } from './routes/audit.js'
import { botUserRoutes } from './routes/bot-users.js'
import type { JobStore } from './bot-users/job-store.js'
import { healthRoutes } from './routes/health.js'
import { policyCheckRoutes } from './routes/policy-check.js'
import { registryRoutes } from './routes/registry.js'
import type { ClientHistory } from './clients/client-history.js'
import { regionRoutes } from './routes/regions.js'
import { tenantApiRoutes } from './routes/tenant-api.js'
import { tenantRoutes } from './routes/tenants.js'
import { createTenantHostResolver } from './tenants/tenant-host.js'
import { createTenantLifecycle } from './tenants/tenant-lifecycle.js'

/** What the HTTP layer needs; production builds these in dependencies.ts, tests pass their own. */
export interface AppDeps {
  config: Config
  regions: RegionRegistry
  gateway: QlikGateway
  verifier: CallerVerifier
  readiness: Readiness
  /** Default: request metrics only (dependencies.ts also feeds it tokens, Vault, readiness and upstream calls). */
  metrics?: BrokerMetrics
  /** Default: off. */
  tracing?: Tracing
  quota: QuotaCounter
  /** Callers in force, idempotency records, tenant registry, audit trail. Default: in process, no config reload. */
  governance?: Governance
  /** Bot-user migration jobs; default: in process. */
  botUserJobs?: JobStore
  /** Client ids each region used before: shown in `GET /regions/{region}`, and how old bot users are found. Default: none known. */
  clientHistory?: ClientHistory
}

export interface AppOptions {
  logger: PinoLogger
}

/** The broker as a Fastify instance, not listening: server.ts listens, tests inject. */
export async function buildApp (deps: AppDeps, options: AppOptions) {
  const { config } = deps
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new RequestLog(),
    genReqId: brokerRequestId,
    requestIdHeader: false,
    bodyLimit: config.server.bodyLimitBytes,
    requestTimeout: config.server.requestTimeoutMs,
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    // Refused while draining by the onRequest hook below, as problem+json.
    return503OnClosing: false,
    frameworkErrors: frameworkErrorProblem,
    clientErrorHandler,
    // Tenant hostnames can be 253 characters long.
    routerOptions: { maxParamLength: 300 }
  }).withTypeProvider<ZodTypeProvider>()

  app.setValidatorCompiler(brokerValidatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  let closing = false
  // The two hooks every request runs are callback hooks, not async ones: an async hook costs a promise and a
  // `then` per request for work that never waits (docs/benchmarks.md, issue 13).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    if (closing) {
      reply.header('connection', 'close')
      done(new BrokerError('QB_SHUTTING_DOWN', 'this broker replica is shutting down; send the request again (another replica will take it)', { headers: { 'retry-after': '1' } }))
      return
    }
    // The caller's own id rides along on every log line of the request (and so on its audit event), beside the broker's.
    const callerRequestId = callerRequestIdOf(request.headers)
    if (callerRequestId !== undefined) request.log = request.log.child({ callerRequestId })
    done()
  })
  // Requests in flight when the drain starts still finish; their keep-alive
  // connections must not hold the server open afterwards.
  app.addHook('onSend', (_request, reply, _payload, done) => {
    if (closing) reply.header('connection', 'close')
    done()
  })
  app.addHook('preClose', async () => {
    closing = true
    deps.readiness.markClosing()
  })

  await app.register(routeFacts)
  await app.register(errorHandler)
  const metrics = deps.metrics ?? createMetrics({ regions: config.regions })
  // Before authentication: refusing a request past the limits costs no key hashing and no Redis round trip.
  await app.register(overloadGuard, { limits: config.server, registry: metrics.registry })
  // Before the routes: tracing wraps each route's handler as it is added.
  await app.register(observability, { metrics, tracing: deps.tracing ?? TRACING_OFF })
  await app.register(authentication, { verifier: deps.verifier })
  await app.register(callerQuota, { counter: deps.quota, defaultLimit: config.quota.default })
  await app.register(docs, { ui: config.server.docsEnabled })
  await app.register(healthRoutes, { readiness: deps.readiness })
  await app.register(regionRoutes, { regions: deps.regions, readiness: deps.readiness, clientHistory: deps.clientHistory })
  const governance = deps.governance ?? createMemoryGovernance(config, options.logger)
  const idempotency = createIdempotency({ store: governance.idempotency, audit: governance.audit, retentionMs: config.governance.idempotencyRetentionSeconds * 1000 })
  const tenantHosts = createTenantHostResolver({ registry: governance.registry, gateway: deps.gateway, askRegister: config.qlik.tenantHostLookup === 'registry,register' })
  await app.register(tenantRoutes, {
    lifecycle: createTenantLifecycle({ regions: deps.regions, gateway: deps.gateway, hosts: tenantHosts, tenantReadsVia: config.qlik.tenantReadsVia, registry: governance.registry, audit: governance.audit }),
    idempotency
  })
  await app.register(tenantApiRoutes, { regions: deps.regions, gateway: deps.gateway, hosts: tenantHosts, idempotency, registry: governance.registry, audit: governance.audit })
  await app.register(registryRoutes, { regions: deps.regions, registry: governance.registry })
  await app.register(auditRoutes, { trail: governance.audit, registry: governance.registry })
  await app.register(policyCheckRoutes, { regions: deps.regions, callers: governance.callers, registry: governance.registry })
  await app.register(botUserRoutes, { config, regions: deps.regions, gateway: deps.gateway, hosts: tenantHosts, registry: governance.registry, audit: governance.audit, callers: governance.callers, metrics: deps.metrics, store: deps.botUserJobs, clientHistory: deps.clientHistory })
  return app
}

export type BrokerApp = Awaited<ReturnType<typeof buildApp>>
