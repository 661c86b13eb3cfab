import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Caller } from '../auth/caller.js'
import { evaluatePolicy, mayAllowForSomeTenant, tenantKey } from '../auth/policy.js'
import type { AuditRecord } from '../audit/audit-log.js'
import type { AuditTrail } from '../audit/audit-trail.js'
import { callerOf } from '../http/authentication.js'
import { BrokerError } from '../http/broker-error.js'
import { AUDIT_OUTCOMES } from '../observability/audit.js'
import { policyTarget, type TenantRegistry } from '../registry/tenant-registry.js'
import { AUTHENTICATED_ERRORS, BEARER_SECURITY, ProblemSchema } from './schemas.js'

export const AuditEventSchema = z.object({
  id: z.string().describe('Position in the audit log (a Redis stream id).'),
  time: z.string(),
  requestId: z.string().describe('The broker\'s id of the request (the `x-request-id` it answered with).'),
  callerRequestId: z.string().optional().describe('The `x-request-id` the caller sent, sanitised and cut to 128 characters.'),
  caller: z.string(),
  region: z.string(),
  tenant: z.string().optional().describe('The tenant id when the broker knew it, else the hostname it was named by (lowercase).'),
  tenantHostname: z.string().optional().describe('The tenant\'s hostname when known: the host the call went to, or its first hostname.'),
  action: z.string().describe('tenants:create … tenants:reactivate, tenant-api (with method and path) or audit:read.'),
  outcome: z.enum(AUDIT_OUTCOMES).describe('allowed: sent to Qlik and answered (see upstreamStatus); denied: refused by the policy in force; failed: the broker could not complete it; replayed: answered from the stored answer of its Idempotency-Key (upstreamStatus: the stored status); in-progress, mismatch, outcome-unknown: refused because of what its Idempotency-Key holds; refused: refused before anything else (e.g. an invalid Idempotency-Key).'),
  upstreamStatus: z.int().optional(),
  durationMs: z.number().optional(),
  idempotencyKey: z.string().optional(),
  method: z.string().optional(),
  path: z.string().optional()
}).meta({ id: 'AuditEvent', description: 'One action of one caller. Never holds a secret or a token.' })

const AuditListSchema = z.object({
  data: z.array(AuditEventSchema),
  nextCursor: z.string().optional().describe('Present when older matching events may exist: pass it as `cursor`.')
}).meta({ id: 'AuditEventList' })

const AuditQuerySchema = z.object({
  caller: z.string().max(63).optional(),
  region: z.string().max(31).optional(),
  tenant: z.string().max(253).optional().describe('Tenant id or any of its hostnames: matches events on that tenant however the caller named it (ids exactly, hostnames without case or trailing dot; aliases through the tenant registry when `region` is given).'),
  since: z.iso.datetime({ offset: true }).optional().describe('Events at or after this time (ISO 8601).'),
  until: z.iso.datetime({ offset: true }).optional().describe('Events at or before this time (ISO 8601).'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(100).optional()
})

/**
 * The audit trail, newest first. Needs an `audit:read` grant; its regions
 * and tenants scope bound which events the caller sees, like any grant.
 * Each read is itself audited.
 */
export const auditRoutes: FastifyPluginAsyncZod<{ trail: AuditTrail, registry: TenantRegistry }> = async (app, { trail, registry }) => {
  app.get('/audit', {
    config: { authenticate: true },
    schema: {
      tags: ['Audit'],
      operationId: 'listAuditEvents',
      summary: 'Audit events: one per action (allowed, denied or failed), newest first',
      description: 'Requires an `audit:read` grant; events outside its regions and tenants are left out. Filters combine with AND.',
      security: BEARER_SECURITY,
      querystring: AuditQuerySchema,
      response: { 200: AuditListSchema, 400: ProblemSchema, ...AUTHENTICATED_ERRORS, 503: ProblemSchema.describe('QB_AUDIT_UNAVAILABLE: the audit store (Redis) cannot be read right now; retry after Retry-After.') }
    }
  }, async (request) => {
    const caller = callerOf(request)
    const query = request.query
    const started = performance.now()
    const event = { requestId: request.id, caller: caller.name, region: query.region ?? '*', action: 'audit:read', ...(query.tenant === undefined ? {} : { tenant: query.tenant }) }
    const mayRead = query.region === undefined
      ? caller.grants.some((grant) => grant.actions.includes('audit:read'))
      : mayAllowForSomeTenant(caller, { kind: 'action', region: query.region, action: 'audit:read' })
    if (!mayRead) {
      trail.record(request.log, { ...event, outcome: 'denied' })
      throw new BrokerError('QB_FORBIDDEN', `no grant of caller "${caller.name}" allows audit:read${query.region === undefined ? '' : ` in region "${query.region}"`}`)
    }
    try {
      const page = await trail.query({
        caller: query.caller,
        region: query.region,
        tenants: query.tenant === undefined ? undefined : await namesOf(registry, query.region, query.tenant),
        sinceMs: query.since === undefined ? undefined : Date.parse(query.since),
        untilMs: query.until === undefined ? undefined : Date.parse(query.until),
        limit: query.limit,
        cursor: query.cursor
      }, visibility(caller, registry))
      trail.record(request.log, { ...event, outcome: 'allowed', durationMs: Math.round(performance.now() - started) })
      return { data: page.events, ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }) }
    } catch (error) {
      if (!(error instanceof BrokerError && error.statusCode < 500)) trail.record(request.log, { ...event, outcome: 'failed', durationMs: Math.round(performance.now() - started) })
      throw error
    }
  })
}

/** Whether the caller's audit:read grants cover an event's region and tenant (by its id or hostname; other names and the `created` scope: looked up in the registry, once per tenant). */
function visibility (caller: Caller, registry: TenantRegistry): (event: AuditRecord) => Promise<boolean> {
  const created = new Map<string, Promise<boolean>>()
  return async (event) => {
    const tenants = [event.tenant, event.tenantHostname].filter((name) => name !== undefined)
    const request = { kind: 'action' as const, region: event.region, action: 'audit:read' as const, tenants }
    if (evaluatePolicy(caller, request).allowed) return true
    // A grant that lists names or says `created` may cover the tenant under a name the event does not carry (an alias): ask the registry.
    if (tenants.length === 0 || !caller.grants.some((grant) => grant.tenants !== '*' && grant.actions.includes('audit:read'))) return false
    const key = `${event.region}\n${tenants.join('\n')}`
    let answer = created.get(key)
    if (answer === undefined) {
      answer = policyTarget(registry, caller, event.region, tenants).then((target) => evaluatePolicy(caller, { ...request, tenants: target.tenants, createdByCaller: target.createdByCaller }).allowed)
      created.set(key, answer)
    }
    return await answer
  }
}

/** Every name of the tenant an audit filter names: itself, and with a region, what the registry knows of it (id, hostnames). */
async function namesOf (registry: TenantRegistry, region: string | undefined, tenant: string): Promise<string[]> {
  const name = tenantKey(tenant)
  if (region === undefined) return [name]
  try {
    const known = name.includes('.') ? await registry.findByHostname(region, name) : await registry.get(region, name)
    return known === undefined ? [name] : [name, known.id, ...known.hostnames]
  } catch {
    // The filter still matches the name as given.
    return [name]
  }
}
