import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AuditTrail } from '../audit/audit-trail.js'
import { evaluatePolicy, mayAllowForSomeTenant } from '../auth/policy.js'
import type { Caller } from '../auth/caller.js'
import { createBotUserMigrations, type TenantTarget } from '../bot-users/migrations.js'
import type { JobStore } from '../bot-users/job-store.js'
import { createMemoryJobStore } from '../bot-users/memory-job-store.js'
import { MOVABLE_KINDS } from '../bot-users/owned-content.js'
import { createPacer } from '../bot-users/pacer.js'
import { MAX_TENANTS_PER_JOB, resolveTenantTargets } from '../bot-users/tenant-targets.js'
import type { ClientHistory } from '../clients/client-history.js'
import type { Action } from '../config/schema.js'
import type { Config } from '../config/load-config.js'
import { callerOf } from '../http/authentication.js'
import { BrokerError } from '../http/broker-error.js'
import type { BrokerMetrics } from '../observability/metrics.js'
import type { QlikGateway } from '../qlik/qlik-gateway.js'
import type { TenantHostResolver } from '../tenants/tenant-host.js'
import type { RegionRegistry } from '../regions/region-registry.js'
import type { CallerDirectory } from '../registry/caller-directory.js'
import type { TenantRegistry } from '../registry/tenant-registry.js'
import { AUTHENTICATED_ERRORS, BEARER_SECURITY, ProblemSchema, RegionParamsSchema } from './schemas.js'

export interface BotUserRouteOptions {
  config: Config
  regions: RegionRegistry
  gateway: QlikGateway
  hosts: TenantHostResolver
  registry: TenantRegistry
  audit: AuditTrail
  callers: CallerDirectory
  metrics: BrokerMetrics | undefined
  /** Redis-backed with REDIS_URL (dependencies.ts); in process otherwise. */
  store: JobStore | undefined
  clientHistory: Pick<ClientHistory, 'forRegion'> | undefined
}

const KindSchema = z.enum(MOVABLE_KINDS)
const RequestSchema = z.object({
  tenants: z.array(z.string().min(1).max(300)).min(1).max(MAX_TENANTS_PER_JOB).optional()
    .describe('Tenant ids or hostnames; absent: every tenant the broker\'s registry knows in the region.'),
  delete: z.array(KindSchema).max(MOVABLE_KINDS.length).default([])
    .describe('Content kinds to delete instead of moving to the active bot user.')
}).strict().meta({ id: 'BotUserMigrationRequest' })

const CallSchema = z.object({ method: z.string(), path: z.string(), body: z.unknown().optional() })
const PlanItemSchema = z.object({
  kind: KindSchema,
  id: z.string(),
  name: z.string(),
  from: z.string().describe('The inactive bot user that owns it now.'),
  to: z.string().optional().describe('The active bot user it goes to; absent for a delete.'),
  action: z.enum(['move', 'delete']),
  call: CallSchema.describe('The Qlik call the job will make for it, on the tenant\'s host.')
})
const BotUserSchema = z.object({ id: z.string(), subject: z.string(), clientId: z.string().optional() })
const PlanSchema = z.object({
  region: z.string(),
  totals: z.object({ tenants: z.int(), items: z.int() }),
  tenants: z.array(z.object({
    tenant: z.string(),
    host: z.string(),
    activeBotUser: BotUserSchema,
    inactiveBotUsers: z.array(BotUserSchema),
    items: z.array(PlanItemSchema),
    notes: z.array(z.string())
  }))
}).meta({ id: 'BotUserMigrationPlan', description: 'What a migration would do. Nothing was changed.' })

const JobSchema = z.object({
  id: z.string(),
  region: z.string(),
  caller: z.string(),
  status: z.enum(['running', 'finished', 'cancelled']),
  deleteKinds: z.array(KindSchema),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().optional(),
  totals: z.object({ found: z.int(), moved: z.int(), failed: z.int(), remaining: z.int() }),
  etaSeconds: z.int().describe('Time left at the job\'s share of each tenant\'s Tier 2 budget (BOT_USERS_BUDGET_FRACTION).'),
  tenants: z.array(z.object({
    tenant: z.string(),
    host: z.string(),
    phase: z.enum(['pending', 'discovering', 'moving', 'done', 'failed']),
    activeBotUser: z.string().optional(),
    inactiveBotUsers: z.array(z.string()),
    found: z.int(),
    moved: z.int(),
    failed: z.int(),
    remaining: z.int(),
    failures: z.array(z.object({ kind: KindSchema, id: z.string(), error: z.string().describe('Qlik\'s error code and title, or why the item was left alone.') })),
    error: z.string().optional()
  })),
  notes: z.array(z.string())
}).meta({ id: 'BotUserMigrationJob' })

const JobParamsSchema = RegionParamsSchema.extend({ jobId: z.uuid().describe('The job id from POST /regions/{region}/bot-users/jobs.') })
const TAGS = ['Bot-user migration']

/**
 * Bot-user migration after a region's client was recreated (issue 11): plan
 * (read only), start a job, read it, list jobs, cancel. A plan or job needs
 * `bot-users:migrate` on every tenant it covers; reading jobs needs
 * `bot-users:read` on all of the job's tenants.
 */
export const botUserRoutes: FastifyPluginAsyncZod<BotUserRouteOptions> = async (app, options) => {
  const { config, regions, gateway, hosts, registry, audit, callers } = options
  const toCaller = (name: string): Caller | undefined => {
    const entry = callers.current().byName.get(name)
    return entry === undefined ? undefined : { name, via: 'api-key', grants: entry.grants }
  }
  const allows = (caller: Caller, action: Action, region: string, tenant: Pick<TenantTarget, 'names' | 'createdByCaller'>): boolean =>
    evaluatePolicy(caller, { kind: 'action', region, action, tenants: tenant.names, createdByCaller: tenant.createdByCaller }).allowed

  const migrations = createBotUserMigrations({
    store: options.store ?? createMemoryJobStore(),
    gateway,
    regions,
    audit,
    logger: app.log.child({ module: 'bot-users' }),
    clientHistory: options.clientHistory,
    // The job runs under its caller's grants as they are now (a config reload may have taken them away).
    mayMigrate: (name, region, tenant) => {
      const caller = toCaller(name)
      return caller !== undefined && allows(caller, 'bot-users:migrate', region, tenant)
    },
    pacer: createPacer({ ...config.qlik.tier2Limit, fraction: config.botUsers.budgetFraction }),
    leaseMs: config.botUsers.leaseSeconds * 1000,
    ...(options.metrics === undefined ? {} : { onItem: options.metrics.onBotUserItem })
  })
  app.addHook('onReady', async () => { migrations.resumeOrphansWhenReachable().catch((error: unknown) => { app.log.warn({ err: (error as Error).message }, 'cannot look for bot-user jobs to resume') }) })
  app.addHook('preClose', async () => { await migrations.close() })

  /** Resolves the request's tenants and refuses the whole request when one of them is not covered. */
  async function authorisedTargets (caller: Caller, regionCode: string, refs: string[] | undefined, requestId: string, action: string): Promise<TenantTarget[]> {
    const region = regions.require(regionCode)
    if (!mayAllowForSomeTenant(caller, { kind: 'action', region: region.code, action: 'bot-users:migrate' })) {
      audit.record(app.log, { requestId, caller: caller.name, region: region.code, action, outcome: 'denied' })
      throw new BrokerError('QB_FORBIDDEN', `no grant of caller "${caller.name}" allows bot-users:migrate in region "${region.code}"`)
    }
    const targets = await resolveTenantTargets({ region, refs, caller: caller.name, registry, hosts, requestId })
    if (targets.length === 0) throw new BrokerError('QB_INVALID_REQUEST', `the broker's registry knows no tenant in region "${region.code}"; name the tenants in \`tenants\``, { issues: [{ pointer: '/body/tenants', message: 'required when the registry has no tenant' }] })
    const denied = targets.find((target) => !allows(caller, 'bot-users:migrate', region.code, target))
    if (denied !== undefined) {
      audit.record(app.log, { requestId, caller: caller.name, region: region.code, tenant: denied.ref, action, outcome: 'denied' })
      throw new BrokerError('QB_FORBIDDEN', `no grant of caller "${caller.name}" allows bot-users:migrate in region "${region.code}" on tenant "${denied.ref}"; nothing was planned or changed`)
    }
    return targets
  }

  app.post('/regions/:region/bot-users/plan', {
    config: { authenticate: true },
    schema: {
      tags: TAGS,
      operationId: 'planBotUserMigration',
      summary: 'List what the inactive bot users own and how each item would move. Changes nothing.',
      description: 'Needs `bot-users:migrate` on every tenant. Inactive bot users: every `qlikbot\\…` user that is not the active client\'s, and any user of a client id in the region\'s client history. App objects cannot be listed or moved through REST: the plan says so in `notes`.',
      security: BEARER_SECURITY,
      params: RegionParamsSchema,
      body: RequestSchema,
      response: { 200: PlanSchema, 400: ProblemSchema, ...AUTHENTICATED_ERRORS }
    }
  }, async (request) => {
    const caller = callerOf(request)
    const region = regions.require(request.params.region)
    const targets = await authorisedTargets(caller, region.code, request.body.tenants, request.id, 'bot-users:plan')
    const tenants = await migrations.plan({ region, caller: caller.name, tenants: targets, deleteKinds: request.body.delete })
    audit.record(app.log, { requestId: request.id, caller: caller.name, region: region.code, action: 'bot-users:plan', outcome: 'allowed' })
    return { region: region.code, totals: { tenants: tenants.length, items: tenants.reduce((sum, tenant) => sum + tenant.items.length, 0) }, tenants }
  })

  app.post('/regions/:region/bot-users/jobs', {
    config: { authenticate: true },
    schema: {
      tags: TAGS,
      operationId: 'startBotUserMigration',
      summary: 'Start a migration job: every item of the inactive bot users goes to the active bot user (or is deleted), item by item',
      description: 'Needs `bot-users:migrate` on every tenant. Answers 202 at once; read progress with GET …/jobs/{jobId}. One job per tenant at a time (409 QB_JOB_CONFLICT). The job lives in Redis and resumes on any replica after a restart or crash; an item is never moved twice.',
      security: BEARER_SECURITY,
      params: RegionParamsSchema,
      body: RequestSchema,
      response: { 202: JobSchema, 400: ProblemSchema, 409: ProblemSchema, ...AUTHENTICATED_ERRORS }
    }
  }, async (request, reply) => {
    const caller = callerOf(request)
    const region = regions.require(request.params.region)
    const targets = await authorisedTargets(caller, region.code, request.body.tenants, request.id, 'bot-users:start')
    const started = await migrations.start({ region, caller: caller.name, tenants: targets, deleteKinds: request.body.delete })
    if ('conflict' in started) throw new BrokerError('QB_JOB_CONFLICT', `job ${started.conflict} is still running on one of these tenants; wait for it, or cancel it`)
    audit.record(app.log, { requestId: request.id, caller: caller.name, region: region.code, action: 'bot-users:start', outcome: 'allowed' })
    return await reply.code(202).header('location', `/regions/${region.code}/bot-users/jobs/${started.job.id}`).send(started.job)
  })

  const readable = (caller: Caller, region: string, job: { tenants: Array<{ tenant: string, host: string }> }): boolean =>
    job.tenants.every((tenant) => allows(caller, 'bot-users:read', region, { names: [tenant.tenant, tenant.host], createdByCaller: false }) || allows(caller, 'bot-users:migrate', region, { names: [tenant.tenant, tenant.host], createdByCaller: false }))

  app.get('/regions/:region/bot-users/jobs', {
    config: { authenticate: true },
    schema: {
      tags: TAGS,
      operationId: 'listBotUserMigrations',
      summary: 'Migration jobs of the region, newest first, that the caller may read',
      security: BEARER_SECURITY,
      params: RegionParamsSchema,
      querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
      response: { 200: z.object({ data: z.array(JobSchema) }), 400: ProblemSchema, ...AUTHENTICATED_ERRORS }
    }
  }, async (request) => {
    const caller = callerOf(request)
    const region = regions.require(request.params.region)
    if (!mayAllowForSomeTenant(caller, { kind: 'action', region: region.code, action: 'bot-users:read' }) &&
      !mayAllowForSomeTenant(caller, { kind: 'action', region: region.code, action: 'bot-users:migrate' })) {
      throw new BrokerError('QB_FORBIDDEN', `no grant of caller "${caller.name}" allows bot-users:read in region "${region.code}"`)
    }
    const jobs = await migrations.list(region.code, request.query.limit)
    return { data: jobs.filter((job) => readable(caller, region.code, job)) }
  })

  async function readJob (caller: Caller, regionCode: string, jobId: string) {
    const region = regions.require(regionCode)
    const job = await migrations.get(jobId)
    // A job of another region, or one the caller may not read, is not disclosed.
    if (job === undefined || job.region !== region.code || !readable(caller, region.code, job)) throw new BrokerError('QB_JOB_NOT_FOUND', `no bot-user migration job ${jobId} that caller "${caller.name}" may read in region "${region.code}"`)
    return job
  }

  app.get('/regions/:region/bot-users/jobs/:jobId', {
    config: { authenticate: true },
    schema: {
      tags: TAGS,
      operationId: 'getBotUserMigration',
      summary: 'A migration job\'s progress per tenant: found, moved, failed (with Qlik\'s error), remaining, ETA',
      security: BEARER_SECURITY,
      params: JobParamsSchema,
      response: { 200: JobSchema, 400: ProblemSchema, ...AUTHENTICATED_ERRORS }
    }
  }, async (request) => await readJob(callerOf(request), request.params.region, request.params.jobId))

  app.post('/regions/:region/bot-users/jobs/:jobId/cancel', {
    config: { authenticate: true },
    schema: {
      tags: TAGS,
      operationId: 'cancelBotUserMigration',
      summary: 'Cancel a running job: it stops after the item in flight; moved items stay moved',
      security: BEARER_SECURITY,
      params: JobParamsSchema,
      response: { 200: JobSchema, 400: ProblemSchema, ...AUTHENTICATED_ERRORS }
    }
  }, async (request) => {
    const caller = callerOf(request)
    const job = await readJob(caller, request.params.region, request.params.jobId)
    const denied = job.tenants.find((tenant) => !allows(caller, 'bot-users:migrate', job.region, { names: [tenant.tenant, tenant.host], createdByCaller: false }))
    if (denied !== undefined) throw new BrokerError('QB_FORBIDDEN', `no grant of caller "${caller.name}" allows bot-users:migrate on tenant "${denied.tenant}"`)
    audit.record(app.log, { requestId: request.id, caller: caller.name, region: job.region, action: 'bot-users:cancel', outcome: 'allowed' })
    return await migrations.cancel(job.id) ?? job
  })
}
