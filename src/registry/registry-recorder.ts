import type { TenantAction } from '../config/schema.js'
import { readJsonBody, type CapturedAnswer } from '../idempotency/captured-answer.js'
import type { Logger } from '../observability/logger.js'
import type { RegisteredTenant, TenantChange, TenantRegistry } from './tenant-registry.js'

export interface AnsweredAction {
  action: TenantAction
  caller: string
  region: string
  tenantId?: string | undefined
  /** The request body as validated (PATCH operations). */
  requestBody?: unknown
  answer: CapturedAnswer
  /**
   * The tenant as the registry held it when the request was judged; `null`
   * when the registry was read then and did not hold it; undefined when it
   * was not read.
   */
  registered?: RegisteredTenant | null | undefined
}

/** Whether a change only restates what the registered tenant already says (a GET answer most of the time). */
function restates (change: TenantChange, tenant: RegisteredTenant): boolean {
  return change.alias === undefined &&
    (change.name === undefined || change.name === tenant.name) &&
    (change.status === undefined || change.status === tenant.status) &&
    (change.hostnames === undefined || (change.hostnames.length === tenant.hostnames.length && change.hostnames.every((name, index) => name === tenant.hostnames[index])))
}

const asObject = (value: unknown): Record<string, unknown> | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined)
const asString = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined)

/** The tenant a 201 from `POST /api/v1/tenants` describes, as the registry keeps it. */
export function tenantFromCreated (body: unknown, region: string, caller: string, now: string): RegisteredTenant | undefined {
  const tenant = asObject(body)
  const id = asString(tenant?.id)
  if (tenant === undefined || id === undefined) return undefined
  const hostnames = Array.isArray(tenant.hostnames) ? tenant.hostnames.filter((name): name is string => typeof name === 'string').map((name) => name.toLowerCase()) : []
  const created = asString(tenant.created)
  const datacenter = asString(tenant.datacenter)
  return {
    id,
    name: asString(tenant.name) ?? '',
    hostnames,
    region,
    ...(datacenter === undefined ? {} : { datacenter }),
    status: asString(tenant.status) ?? 'active',
    createdBy: caller,
    // Qlik's own creation time when it gives one (it orders the listing), else ours.
    createdAt: created !== undefined && Number.isFinite(Date.parse(created)) ? new Date(created).toISOString() : now,
    updatedAt: now
  }
}

/** What a successful lifecycle answer changes about a registered tenant, or undefined for nothing. */
export function changeFromAnswer (action: TenantAction, statusCode: number, body: unknown, requestBody: unknown, tenantId?: string): TenantChange | undefined {
  if (action === 'tenants:read' && statusCode === 200) {
    // Qlik's current view of the tenant: names and hostnames may have changed by any route, or outside the broker.
    const tenant = asObject(body)
    if (tenant === undefined || asString(tenant.id) !== tenantId || !Array.isArray(tenant.hostnames)) return undefined
    const hostnames = tenant.hostnames.filter((name): name is string => typeof name === 'string').map((name) => name.toLowerCase())
    const name = asString(tenant.name)
    const status = asString(tenant.status)
    return { hostnames, ...(name === undefined ? {} : { name }), ...(status === undefined ? {} : { status }) }
  }
  if ((action === 'tenants:deactivate' || action === 'tenants:reactivate') && statusCode === 200) {
    // Qlik's reactivate example answers `{}`: a 200 still means it happened.
    return { status: asString(asObject(body)?.status) ?? (action === 'tenants:deactivate' ? 'disabled' : 'active') }
  }
  if (action === 'tenants:update' && statusCode === 204 && Array.isArray(requestBody)) {
    const change: TenantChange = {}
    for (const operation of requestBody) {
      const op = asObject(operation)
      const value = asString(op?.value)
      if (op?.op !== 'replace' || value === undefined) continue
      if (op.path === '/name') change.name = value
      if (op.path === '/hostnames/1') change.alias = value.toLowerCase()
    }
    return change.name === undefined && change.alias === undefined ? undefined : change
  }
  return undefined
}

/**
 * Keeps the registry in line with Qlik's answers, whichever broker route
 * they came through: a 201 create records the tenant, a 200
 * deactivate/reactivate its status, a 204 PATCH its name or alias, a 200
 * GET its name, hostnames and status as Qlik has them now. Qlik already acted, so a registry that cannot be written never
 * fails the request; it is logged (with the tenant id, to repair by hand).
 */
export async function rememberAnswer (registry: TenantRegistry, input: AnsweredAction, logger: Logger, now: () => Date = () => new Date()): Promise<RegisteredTenant | undefined> {
  const { answer } = input
  if (answer.statusCode >= 300) return undefined
  try {
    if (input.action === 'tenants:create' && answer.statusCode === 201) {
      const tenant = tenantFromCreated(readJsonBody(answer), input.region, input.caller, now().toISOString())
      if (tenant === undefined) {
        logger.warn({ region: input.region }, 'Qlik\'s 201 for a created tenant had no readable tenant id; it is not in the tenant registry')
        return undefined
      }
      await registry.record(tenant)
      return tenant
    }
    if (input.tenantId === undefined) return undefined
    // A read only refreshes a registered tenant (update() stores nothing for another): one the registry did not
    // hold when the request was judged costs no write, nor the parse of Qlik's answer. A tenant created meanwhile
    // was recorded from its own 201.
    if (input.registered === null && input.action === 'tenants:read') return undefined
    const change = changeFromAnswer(input.action, answer.statusCode, answer.statusCode === 200 ? readJsonBody(answer) : undefined, input.requestBody, input.tenantId)
    if (change === undefined) return undefined
    // Reads answer the same tenant again and again: only a difference is written.
    if (input.registered != null && input.registered.id === input.tenantId && restates(change, input.registered)) return input.registered
    return await registry.update(input.region, input.tenantId, change, now().toISOString())
  } catch (error) {
    logger.error({ err: (error as Error).message, region: input.region, tenant: input.tenantId, action: input.action }, 'could not update the tenant registry after Qlik acted; the registry is behind for this tenant')
    return undefined
  }
}
