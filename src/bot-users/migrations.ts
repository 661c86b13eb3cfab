import { randomUUID } from 'node:crypto'
import type { AuditTrail } from '../audit/audit-trail.js'
import type { ClientHistory } from '../clients/client-history.js'
import type { RegionConfig } from '../config/load-config.js'
import type { Logger } from '../observability/logger.js'
import type { QlikGateway } from '../qlik/qlik-gateway.js'
import { discoverTenant } from './discovery.js'
import type { Job, JobItem, JobTenant } from './job.js'
import { tenantLockKey, type JobStore } from './job-store.js'
import { APP_OBJECTS_NOTE, CONTENT_CALLS, KIND_ORDER, type ContentKind } from './owned-content.js'
import type { Pacer } from './pacer.js'
import { tenantCalls, type TenantCalls } from './tenant-calls.js'

/** A tenant a job works on, resolved to its host before the job starts. */
export interface TenantTarget {
  ref: string
  host: string
  names: string[]
  createdByCaller: boolean
}

export interface MigrationRequest {
  region: RegionConfig
  caller: string
  tenants: TenantTarget[]
  deleteKinds: ContentKind[]
}

export interface TenantPlan {
  tenant: string
  host: string
  activeBotUser: { id: string, subject: string }
  inactiveBotUsers: Array<{ id: string, subject: string, clientId: string | undefined }>
  items: Array<Pick<JobItem, 'kind' | 'id' | 'name' | 'from' | 'to' | 'action' | 'call'>>
  notes: string[]
}

export interface TenantProgress {
  tenant: string
  host: string
  phase: JobTenant['phase']
  activeBotUser: string | undefined
  inactiveBotUsers: string[]
  found: number
  moved: number
  failed: number
  remaining: number
  failures: Array<{ kind: ContentKind, id: string, error: string }>
  error: string | undefined
}

export interface JobView {
  id: string
  region: string
  caller: string
  status: Job['status']
  deleteKinds: ContentKind[]
  createdAt: string
  updatedAt: string
  finishedAt: string | undefined
  totals: { found: number, moved: number, failed: number, remaining: number }
  /** Seconds to the end at the job's share of Qlik's Tier 2 budget; 0 when nothing remains. */
  etaSeconds: number
  tenants: TenantProgress[]
  notes: string[]
}

export type ItemOutcome = 'moved' | 'deleted' | 'failed'

export interface MigrationOptions {
  store: JobStore
  gateway: QlikGateway
  regions: { require (code: string): RegionConfig }
  audit: AuditTrail
  logger: Logger
  clientHistory?: Pick<ClientHistory, 'forRegion'> | undefined
  /** Whether the caller, with the grants it has now, may still migrate on this tenant (checked on every (re)start). */
  mayMigrate: (caller: string, region: string, tenant: Pick<TenantTarget, 'names' | 'createdByCaller'>) => boolean
  pacer: Pacer
  leaseMs: number
  replicaId?: string
  onItem?: (region: string, kind: ContentKind, outcome: ItemOutcome) => void
  now?: () => number
}

export interface BotUserMigrations {
  /** What a job would do: every item with its owner, target and call. Changes nothing. */
  plan (request: MigrationRequest): Promise<TenantPlan[]>
  /** Creates the job and runs it in the background; refused (`conflict`) while another job holds one of its tenants. */
  start (request: MigrationRequest): Promise<{ job: JobView } | { conflict: string }>
  get (id: string): Promise<JobView | undefined>
  list (region: string | undefined, count: number): Promise<JobView[]>
  cancel (id: string): Promise<JobView | undefined>
  /** Takes over running jobs whose lease lapsed (a replica died); also run on a timer. */
  resumeOrphans (): Promise<void>
  /** resumeOrphans() once the job store can be asked: at start-up, Redis may still be connecting. */
  resumeOrphansWhenReachable (): Promise<void>
  /** Stops taking jobs; running ones stop after their current item and hand over their lease. */
  close (): Promise<void>
}

const lockKeys = (job: Pick<Job, 'region' | 'tenants'>): string[] => job.tenants.map((tenant) => tenantLockKey(job.region, tenant.host))
const CANCEL_CHECK_MS = 1000
const kindRank = (kind: ContentKind): number => KIND_ORDER.indexOf(kind)
const ordered = (items: JobItem[]): JobItem[] => [...items].sort((a, b) => kindRank(a.kind) - kindRank(b.kind) || a.id.localeCompare(b.id))

export function createBotUserMigrations (options: MigrationOptions): BotUserMigrations {
  const { store, gateway, audit, logger, pacer } = options
  const now = options.now ?? Date.now
  const replicaId = options.replicaId ?? randomUUID()
  const running = new Map<string, Promise<void>>()
  let stopping = false
  const iso = (): string => new Date(now()).toISOString()

  async function clientsOf (region: string): Promise<{ current: string | undefined, previous: string[] }> {
    const history = await options.clientHistory?.forRegion(region)
    return { current: history?.currentClientId, previous: history?.previous.map((client) => client.clientId) ?? [] }
  }

  function view (job: Job, items: JobItem[]): JobView {
    const tenants = job.tenants.map((tenant, index): TenantProgress => {
      const own = items.filter((item) => item.tenant === index)
      const failed = own.filter((item) => item.state === 'failed')
      return {
        tenant: tenant.ref,
        host: tenant.host,
        phase: tenant.phase,
        activeBotUser: tenant.activeBotUser,
        inactiveBotUsers: tenant.inactiveBotUsers,
        found: own.length,
        moved: own.filter((item) => item.state === 'moved').length,
        failed: failed.length,
        remaining: own.filter((item) => item.state === 'pending' || item.state === 'moving').length,
        failures: failed.slice(0, 100).map((item) => ({ kind: item.kind, id: item.id, error: item.error ?? 'failed' })),
        error: tenant.error
      }
    })
    const sum = (field: 'found' | 'moved' | 'failed' | 'remaining'): number => tenants.reduce((total, tenant) => total + tenant[field], 0)
    // Tenants run side by side, each at the job's share of its own host's budget: the slowest one sets the end.
    const etaSeconds = job.status === 'running' ? Math.ceil(Math.max(0, ...tenants.map((tenant) => tenant.remaining)) * pacer.intervalMs / 1000) : 0
    return {
      id: job.id,
      region: job.region,
      caller: job.caller,
      status: job.status,
      deleteKinds: job.deleteKinds,
      createdAt: job.createdAt,
      updatedAt: job.updatedAt,
      finishedAt: job.finishedAt,
      totals: { found: sum('found'), moved: sum('moved'), failed: sum('failed'), remaining: sum('remaining') },
      etaSeconds,
      tenants,
      notes: [APP_OBJECTS_NOTE]
    }
  }

  /** Re-reads an item whose move may or may not have happened: Qlik's state decides, never a second blind call. */
  async function settle (calls: TenantCalls, item: JobItem): Promise<'done' | 'retry' | string> {
    const answer = await calls.call({ method: 'GET', path: CONTENT_CALLS[item.kind].read(item.id) })
    if (answer.status === 404) return item.action === 'delete' ? 'done' : 'the item no longer exists'
    if (answer.status !== 200) return `cannot read the item to check its owner: ${answer.error ?? `HTTP ${answer.status}`}`
    const owner = CONTENT_CALLS[item.kind].ownerOf(answer.json as Record<string, unknown>)
    if (item.action === 'move' && owner === item.to) return 'done'
    if (owner === item.from) return 'retry'
    return `its owner changed to ${owner ?? 'nobody'} outside this job; left alone`
  }

  async function runJob (id: string): Promise<void> {
    if (stopping || !await store.lease(id, replicaId, options.leaseMs)) return
    let lost = false
    const renewal = setInterval(() => {
      store.lease(id, replicaId, options.leaseMs).then((held) => { if (!held) lost = true }, () => {})
    }, Math.max(100, Math.floor(options.leaseMs / 3)))
    renewal.unref()
    const halted = (): boolean => lost || stopping
    try {
      const job = await store.get(id)
      if (job === undefined || job.status !== 'running') return
      const region = options.regions.require(job.region)
      let saving = Promise.resolve(true)
      const save = async (): Promise<void> => {
        job.updatedAt = iso()
        const snapshot = structuredClone(job)
        saving = saving.then(async () => await store.putJob(snapshot, replicaId))
        if (!await saving) lost = true
      }
      let cancelled = false
      let cancelCheckedAt = 0
      const itemsOf = async (index: number): Promise<JobItem[]> => ordered((await store.items(id)).filter((item) => item.tenant === index))

      const runTenant = async (index: number): Promise<void> => {
        const tenant = job.tenants[index]
        if (tenant === undefined || tenant.phase === 'done' || tenant.phase === 'failed') return
        const refused = async (): Promise<boolean> => {
          if (options.mayMigrate(job.caller, job.region, tenant)) return false
          tenant.phase = 'failed'
          tenant.error = `caller "${job.caller}" no longer has bot-users:migrate on this tenant; the items left were not moved`
          await save()
          return true
        }
        if (await refused()) return
        const calls = tenantCalls(gateway, region, tenant.host, `bot-users-${id}`)
        try {
          if (tenant.phase === 'pending' || tenant.phase === 'discovering') {
            tenant.phase = 'discovering'
            await save()
            // Discovery only reads: after a crash it simply runs again.
            const findings = await discoverTenant(calls, await clientsOf(job.region), new Set(job.deleteKinds))
            const items: JobItem[] = findings.items.map((item) => ({ ...item, tenant: index, state: 'pending' }))
            if (!await store.addItems(id, replicaId, items)) { lost = true; return }
            tenant.activeBotUser = findings.activeBotUser.id
            tenant.inactiveBotUsers = findings.inactiveBotUsers.map((user) => user.id)
            tenant.phase = 'moving'
            await save()
          }
          for (const item of await itemsOf(index)) {
            if (halted()) return
            if (item.state === 'moved' || item.state === 'failed') continue
            // The job acts under its caller's grants as they are now: a reload that removed them stops it here.
            if (await refused()) return
            // A cancel is looked for at most once a second: one Redis read per item would cost more than the move.
            if (now() - cancelCheckedAt >= CANCEL_CHECK_MS) {
              cancelCheckedAt = now()
              if (await store.cancelRequested(id)) { cancelled = true; return }
            }
            if (item.state === 'moving') {
              const verdict = await settle(calls, item)
              if (verdict !== 'retry') {
                await finishItem(job, region, tenant, item, verdict === 'done' ? 'moved' : 'failed', verdict === 'done' ? undefined : verdict, undefined)
                continue
              }
            }
            item.state = 'moving'
            if (!await store.putItem(id, replicaId, item)) { lost = true; return }
            await pacer.wait(tenant.host)
            let status: number | undefined
            let error: string | undefined
            try {
              const answer = await calls.call(item.call)
              status = answer.status
              if (answer.status >= 300) error = answer.error ?? `HTTP ${answer.status}`
            } catch (failure) {
              // The outcome is unknown (sent, no answer): Qlik's state decides.
              const verdict = await settle(calls, item).catch(() => 'retry')
              if (verdict !== 'done') error = (failure as Error).message
            }
            if (halted() && error !== undefined) return
            await finishItem(job, region, tenant, item, error === undefined ? 'moved' : 'failed', error, status)
          }
          tenant.phase = 'done'
          await save()
        } catch (failure) {
          if (halted()) return
          tenant.phase = 'failed'
          tenant.error = (failure as Error).message
          await save()
        }
      }

      const finishItem = async (job: Job, region: RegionConfig, tenant: JobTenant, item: JobItem, state: 'moved' | 'failed', error: string | undefined, upstreamStatus: number | undefined): Promise<void> => {
        item.state = state
        item.error = error
        if (!await store.putItem(id, replicaId, item)) { lost = true; return }
        options.onItem?.(region.code, item.kind, state === 'failed' ? 'failed' : item.action === 'delete' ? 'deleted' : 'moved')
        audit.record(logger, {
          requestId: `bot-users-${id}`,
          caller: job.caller,
          region: region.code,
          tenant: tenant.host,
          action: 'bot-users:migrate',
          outcome: state === 'moved' ? 'allowed' : 'failed',
          upstreamStatus,
          method: item.call.method,
          path: item.call.path
        })
      }

      await Promise.all(job.tenants.map(async (_, index) => { await runTenant(index) }))
      if (halted()) return
      if (!cancelled && job.tenants.some((tenant) => tenant.phase !== 'done' && tenant.phase !== 'failed')) return
      await saving
      job.status = cancelled ? 'cancelled' : 'finished'
      job.finishedAt = iso()
      job.updatedAt = job.finishedAt
      await store.finish(job, replicaId, lockKeys(job))
      logger.info({ jobId: id, region: job.region, status: job.status }, 'bot-user migration job ended')
    } catch (failure) {
      logger.warn({ jobId: id, err: (failure as Error).message }, 'bot-user migration job stopped; another replica or a restart resumes it')
    } finally {
      clearInterval(renewal)
      if (halted()) await store.release(id, replicaId).catch(() => {})
    }
  }

  function launch (id: string): void {
    if (running.has(id) || stopping) return
    const run = runJob(id).finally(() => running.delete(id))
    running.set(id, run)
  }

  const sweeper = setInterval(() => { resumeOrphans().catch(() => {}) }, options.leaseMs)
  sweeper.unref()

  async function resumeOrphans (): Promise<void> {
    if (stopping) return
    for (const id of await store.running()) launch(id)
  }

  return {
    async resumeOrphansWhenReachable () {
      await store.reachable?.()
      await resumeOrphans()
    },
    async plan (request) {
      const clients = await clientsOf(request.region.code)
      const plans: TenantPlan[] = []
      for (const tenant of request.tenants) {
        const calls = tenantCalls(gateway, request.region, tenant.host, `bot-users-plan-${randomUUID()}`)
        const findings = await discoverTenant(calls, clients, new Set(request.deleteKinds))
        plans.push({
          tenant: tenant.ref,
          host: tenant.host,
          activeBotUser: { id: findings.activeBotUser.id, subject: findings.activeBotUser.subject },
          inactiveBotUsers: findings.inactiveBotUsers,
          items: findings.items,
          notes: findings.inactiveBotUsers.length > 0 ? [APP_OBJECTS_NOTE] : []
        })
      }
      return plans
    },
    async start (request) {
      const at = iso()
      const job: Job = {
        id: randomUUID(),
        region: request.region.code,
        caller: request.caller,
        deleteKinds: request.deleteKinds,
        status: 'running',
        tenants: request.tenants.map((tenant) => ({ ref: tenant.ref, host: tenant.host, names: tenant.names, createdByCaller: tenant.createdByCaller, phase: 'pending', inactiveBotUsers: [] })),
        createdAt: at,
        updatedAt: at
      }
      const created = await store.create(job, lockKeys(job))
      if (!created.created) return { conflict: created.heldBy }
      launch(job.id)
      return { job: view(job, []) }
    },
    async get (id) {
      const job = await store.get(id)
      return job === undefined ? undefined : view(job, await store.items(id))
    },
    async list (region, count) {
      const jobs = (await store.list(count)).filter((job) => region === undefined || job.region === region)
      return await Promise.all(jobs.map(async (job) => view(job, await store.items(job.id))))
    },
    async cancel (id) {
      const job = await store.get(id)
      if (job === undefined) return undefined
      if (job.status === 'running') await store.requestCancel(id)
      return view(job, await store.items(id))
    },
    resumeOrphans,
    async close () {
      stopping = true
      clearInterval(sweeper)
      await Promise.allSettled([...running.values()])
    }
  }
}
