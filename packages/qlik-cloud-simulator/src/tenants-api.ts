import { z } from 'zod'
import { E, patchError, qlikError } from './envelope.js'
import { isObject, parseJson, parseOptionalObject } from './http-utils.js'
import { DATACENTERS, isTenantHostname } from './regions.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import { bearerRoute } from './route.js'
import type { RouteContext, RouteDef } from './route.js'
import type { TenantRecord } from './tenant-store.js'
import type { Tenant } from './types.js'

type TenantFlag =
  | 'autoAssignCreateSharedSpacesRoleToProfessionals'
  | 'autoAssignPrivateAnalyticsContentCreatorRoleToProfessionals'
  | 'autoAssignDataServicesContributorRoleToProfessionals'
  | 'enableAnalyticCreation'
  | 'enableAppOpeningFeedback'

const FLAG_PATHS: ReadonlyMap<string, TenantFlag> = new Map<string, TenantFlag>([
  ['/autoAssignCreateSharedSpacesRoleToProfessionals', 'autoAssignCreateSharedSpacesRoleToProfessionals'],
  ['/autoAssignPrivateAnalyticsContentCreatorRoleToProfessionals', 'autoAssignPrivateAnalyticsContentCreatorRoleToProfessionals'],
  ['/autoAssignDataServicesContributorRoleToProfessionals', 'autoAssignDataServicesContributorRoleToProfessionals'],
  ['/enableAnalyticCreation', 'enableAnalyticCreation'],
  ['/enableAppOpeningFeedback', 'enableAppOpeningFeedback']
])

const createSchema = z.strictObject({
  licenseKey: z.string().optional(),
  datacenter: z.string().optional()
})

const deactivateSchema = z.object({
  purgeAfterDays: z.int().min(10).max(90).optional()
})

const DAY_MS = 24 * 60 * 60 * 1000

const notFound = (): SimResponse => qlikError(404, E.tenantNotFound)

const registerOnly = (): SimResponse => qlikError(403, E.forbidden, 'This operation is only available on the register host of the region')

function firstIssue (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue === undefined) return 'Invalid request body'
  const path = issue.path.join('.')
  return path === '' ? issue.message : `${path}: ${issue.message}`
}

/** Register host of the tenant's region, or one of the tenant's own hostnames. */
function visibleRecord (core: SimulatorCore, ctx: RouteContext): TenantRecord | undefined {
  const record = core.tenants.get(ctx.params.tenantId ?? '')
  if (record === undefined) return undefined
  const { site } = ctx
  const visible = site.kind === 'register' ? record.tenant.region === site.region : site.tenantId === record.tenant.id
  return visible ? record : undefined
}

/** Create-tenant license errors (docs/reference/qlik-cloud-api.md §11): TENANTS-21, -23, -22. */
function licenseRefusal (core: SimulatorCore, licenseKey: string | undefined): SimResponse | undefined {
  if (licenseKey === undefined || licenseKey.trim() === '') return qlikError(400, E.licenseKeyMissing, 'licenseKey is required')
  const { licenseKeys, tenantQuota, guessLicenseQuotaStatus } = core.options
  if (licenseKeys !== undefined && !licenseKeys.has(licenseKey)) return qlikError(403, E.licenseInvalid, 'licenseKey is not a valid license')
  if (tenantQuota !== undefined) {
    const used = core.tenants.list().filter((r) => r.licenseKey === licenseKey).length
    if (used >= tenantQuota) {
      return qlikError(guessLicenseQuotaStatus, E.licenseQuotaReached, `This license has reached its quota of ${tenantQuota} tenants`)
    }
  }
  return undefined
}

/**
 * GET and PATCH of a tenant are documented on the tenant host only; on the
 * register host they are answered as Qlik answers a route it does not have,
 * unless the (undocumented) guess is turned on (docs/reference/qlik-cloud-api.md §11).
 */
function unservedOnRegister (core: SimulatorCore, ctx: RouteContext): SimResponse | undefined {
  if (ctx.site.kind !== 'register' || core.options.guessRegisterServesTenantReads) return undefined
  return qlikError(404, E.notFound, `No route ${ctx.method} ${ctx.path} on a register host`)
}

function create (core: SimulatorCore, ctx: RouteContext): SimResponse {
  if (ctx.site.kind !== 'register') return registerOnly()
  const parsed = parseJson(ctx.body)
  if (!parsed.ok) return qlikError(400, E.badRequest, parsed.reason)
  const body = createSchema.safeParse(parsed.value)
  if (!body.success) return qlikError(400, E.badRequest, firstIssue(body.error))
  const { licenseKey, datacenter } = body.data
  if (datacenter !== undefined && !DATACENTERS.includes(datacenter)) {
    return qlikError(400, E.badRequest, `datacenter must be one of ${DATACENTERS.join(', ')}`)
  }
  const refused = licenseRefusal(core, licenseKey)
  if (refused !== undefined) return refused
  const record = core.tenants.create(datacenter === undefined ? { region: ctx.site.region } : { region: ctx.site.region, datacenter })
  record.licenseKey = licenseKey
  return { status: 201, body: record.tenant }
}

function get (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const unserved = unservedOnRegister(core, ctx)
  if (unserved !== undefined) return unserved
  const record = visibleRecord(core, ctx)
  return record === undefined ? notFound() : { status: 200, body: record.tenant }
}

function me (ctx: RouteContext): SimResponse {
  if (ctx.site.kind !== 'tenant') return qlikError(404, E.notFound)
  return { status: 302, headers: { location: `https://${ctx.host}/api/v1/tenants/${ctx.site.tenantId}` } }
}

type Change = (tenant: Tenant, record: TenantRecord) => void

function patch (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const unserved = unservedOnRegister(core, ctx)
  if (unserved !== undefined) return unserved
  const record = visibleRecord(core, ctx)
  if (record === undefined) return notFound()
  const parsed = parseJson(ctx.body)
  if (!parsed.ok) return patchError(parsed.reason)
  if (!Array.isArray(parsed.value) || parsed.value.length === 0) {
    return patchError('Request body must be a non-empty JSON array of patch operations')
  }
  const { region } = record.tenant
  const { domain } = core.options
  const problems: Array<{ code: string, title: string }> = []
  // Validate everything first: a bad operation anywhere leaves the tenant untouched.
  const changes: Change[] = []
  for (const [i, op] of parsed.value.entries()) {
    if (!isObject(op) || typeof op.path !== 'string' || !('value' in op)) {
      problems.push({ code: 'INVALID_OPERATION', title: `operation ${i} must have op, path and value` })
      continue
    }
    if (op.op !== 'replace') {
      problems.push({ code: 'INVALID_OPERATION', title: `operation ${i}: op must be "replace"` })
      continue
    }
    const { path, value } = op
    const flag = FLAG_PATHS.get(path)
    if (flag !== undefined) {
      if (typeof value !== 'boolean') problems.push({ code: 'INVALID_VALUE', title: `${path} must be a boolean` })
      else changes.push((tenant) => { tenant[flag] = value })
    } else if (path === '/name') {
      if (typeof value !== 'string' || value.trim() === '') problems.push({ code: 'INVALID_VALUE', title: '/name must be a non-empty string' })
      else changes.push((tenant) => { tenant.name = value })
    } else if (path === '/hostnames/1') {
      const hostname = typeof value === 'string' ? value.toLowerCase() : ''
      if (!isTenantHostname(hostname, region, domain)) {
        problems.push({ code: 'INVALID_VALUE', title: `/hostnames/1 must be a hostname ending in .${region}.${domain}` })
      } else if (core.tenants.isTaken(hostname) && record.tenant.hostnames[1] !== hostname) {
        problems.push({ code: 'HOSTNAME_TAKEN', title: `hostname ${hostname} is already in use` })
      } else {
        changes.push((_tenant, rec) => core.tenants.setAlias(rec, hostname))
      }
    } else {
      problems.push({ code: 'INVALID_PATH', title: `path ${path} cannot be patched` })
    }
  }
  const [first] = problems
  if (first !== undefined) return patchError(first.title, problems)
  for (const change of changes) change(record.tenant, record)
  core.tenants.touch(record)
  return { status: 204 }
}

type LifecycleAction = 'deactivate' | 'reactivate'

/** Shared by deactivate and reactivate: register host, visible tenant, matching confirm header. */
function lifecycleTarget (core: SimulatorCore, ctx: RouteContext, action: LifecycleAction): { record: TenantRecord } | { response: SimResponse } {
  const record = visibleRecord(core, ctx)
  if (record === undefined) return { response: notFound() }
  if (ctx.site.kind !== 'register') return { response: registerOnly() }
  const confirm = ctx.headers['qlik-confirm-hostname']
  if (typeof confirm !== 'string' || confirm === '') {
    return { response: qlikError(412, E.preconditionFailed, 'Header qlik-confirm-hostname is required') }
  }
  if (!confirms(core, action, record.tenant, confirm.trim().toLowerCase())) {
    return { response: qlikError(412, E.preconditionFailed, 'Header qlik-confirm-hostname does not match a hostname of the tenant') }
  }
  return { record }
}

/**
 * Hostnames are case-insensitive (§1.1). Deactivate must name *the* hostname,
 * reactivate *one of* them (§11). Which one "the" hostname is for a tenant
 * with an alias is undocumented: option `guessDeactivateConfirmHostname`.
 */
function confirms (core: SimulatorCore, action: LifecycleAction, tenant: Tenant, confirm: string): boolean {
  if (action === 'deactivate' && core.options.guessDeactivateConfirmHostname === 'first') return tenant.hostnames[0] === confirm
  return tenant.hostnames.includes(confirm)
}

function deactivate (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const target = lifecycleTarget(core, ctx, 'deactivate')
  if ('response' in target) return target.response
  const parsed = parseOptionalObject(ctx.body)
  if (!parsed.ok) return qlikError(400, E.badRequest, parsed.reason)
  const body = deactivateSchema.safeParse(parsed.value)
  if (!body.success) return qlikError(400, E.badRequest, firstIssue(body.error))
  const { tenant } = target.record
  // Deactivating again "resets the countdown" (§11); that the API accepts it
  // is an inference, hence option `guessRedeactivateAccepted`.
  if (tenant.status === 'disabled' && !core.options.guessRedeactivateAccepted) return qlikError(400, E.badRequest, 'Tenant is already disabled')
  if (tenant.status !== 'disabled') core.tenants.setStatus(target.record, 'disabled')
  const estimatedPurgeDate = new Date(core.options.now() + (body.data.purgeAfterDays ?? 30) * DAY_MS).toISOString()
  return { status: 200, body: { id: tenant.id, status: 'disabled', estimatedPurgeDate } }
}

function reactivate (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const target = lifecycleTarget(core, ctx, 'reactivate')
  if ('response' in target) return target.response
  const parsed = parseOptionalObject(ctx.body)
  if (!parsed.ok) return qlikError(400, E.badRequest, parsed.reason)
  const { tenant } = target.record
  if (tenant.status !== 'disabled') return qlikError(400, E.badRequest, `Tenant is ${tenant.status}, not disabled`)
  core.tenants.setStatus(target.record, 'active')
  return { status: 200, body: { id: tenant.id, status: 'active' } }
}

/** Tenants API (reference §3). */
export function tenantsRoutes (core: SimulatorCore): RouteDef[] {
  const sites = 'any'
  return [
    bearerRoute({ sites, method: 'POST', pattern: '/api/v1/tenants', tier: 2, handle: (ctx) => create(core, ctx) }),
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/tenants/me', tier: 1, handle: (ctx) => me(ctx) }),
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/tenants/{tenantId}', tier: 1, handle: (ctx) => get(core, ctx) }),
    bearerRoute({ sites, method: 'PATCH', pattern: '/api/v1/tenants/{tenantId}', tier: 2, handle: (ctx) => patch(core, ctx) }),
    bearerRoute({ sites, method: 'POST', pattern: '/api/v1/tenants/{tenantId}/actions/deactivate', tier: 2, handle: (ctx) => deactivate(core, ctx) }),
    bearerRoute({ sites, method: 'POST', pattern: '/api/v1/tenants/{tenantId}/actions/reactivate', tier: 2, handle: (ctx) => reactivate(core, ctx) })
  ]
}
