import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Caller } from '../auth/caller.js'
import { evaluatePolicy, type PolicyRequest } from '../auth/policy.js'
import { ACTIONS } from '../config/schema.js'
import { callerOf } from '../http/authentication.js'
import { BrokerError, isBrokerError } from '../http/broker-error.js'
import type { RegionRegistry } from '../regions/region-registry.js'
import { parseTenantReference } from '../regions/tenant-reference.js'
import { checkUpstreamPath } from '../regions/upstream-path.js'
import type { CallerDirectory } from '../registry/caller-directory.js'
import { policyTarget, type TenantRegistry } from '../registry/tenant-registry.js'
import { tenantsApiCall } from '../tenants/tenants-api-call.js'
import { AUTHENTICATED_ERRORS, BEARER_SECURITY, ProblemSchema } from './schemas.js'

const PolicyCheckRequestSchema = z.strictObject({
  region: z.string().min(1).describe('Region code, e.g. eu.'),
  action: z.enum(ACTIONS).optional().describe('A lifecycle or broker action, e.g. tenants:deactivate.'),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).optional().describe('With `path`: a tenant-level API call.'),
  path: z.string().min(1).max(2048).optional().describe('Qlik path of a tenant-level API call, e.g. /api/v1/users/me.'),
  tenant: z.string().min(1).max(253).optional().describe('Tenant id or hostname. Left out: whether the grants allow it without naming a tenant.'),
  caller: z.string().min(1).max(63).optional().describe('Check another caller (needs an `audit:read` grant on all tenants of the region).')
}).refine((body) => (body.action !== undefined) !== (body.method !== undefined || body.path !== undefined), 'give either `action`, or `method` and `path`')
  .refine((body) => (body.method === undefined) === (body.path === undefined), '`method` and `path` go together')
  .meta({ id: 'PolicyCheckRequest' })

const PolicyCheckResponseSchema = z.object({
  caller: z.string(),
  allowed: z.boolean(),
  reason: z.string(),
  grant: z.object({
    index: z.int().describe('Zero-based position in the caller\'s `grants`.'),
    regions: z.union([z.literal('*'), z.array(z.string())]),
    actions: z.array(z.string()),
    tenantApi: z.array(z.string()),
    tenants: z.union([z.literal('*'), z.literal('created'), z.array(z.string())])
  }).optional().describe('The grant that allows it.'),
  tenant: z.object({
    registered: z.boolean().describe('Whether the broker\'s tenant registry knows the tenant (it names its hostnames and creator).'),
    createdByCaller: z.boolean()
  }).optional(),
  policyVersion: z.int().describe('Version of the caller set in force (+1 at every accepted config reload).')
}).meta({ id: 'PolicyCheckResponse' })

/**
 * What the policy says about a request, without making it: nothing is
 * minted, resolved at Qlik or sent. A tenant id is matched against grants
 * that list hostnames only when the tenant registry knows its hostnames, and
 * a hostname counts as a registered tenant's only while the registry says it
 * is that tenant's now. `method` + `path` on Qlik's Tenants API are judged
 * as the lifecycle action they are.
 */
export const policyCheckRoutes: FastifyPluginAsyncZod<{ regions: RegionRegistry, callers: CallerDirectory, registry: TenantRegistry }> = async (app, { regions, callers, registry }) => {
  app.post('/policy/check', {
    config: { authenticate: true },
    schema: {
      tags: ['Policy'],
      operationId: 'checkPolicy',
      summary: 'Would the policy allow this request? Never acts',
      security: BEARER_SECURITY,
      body: PolicyCheckRequestSchema,
      response: { 200: PolicyCheckResponseSchema, 400: ProblemSchema, ...AUTHENTICATED_ERRORS }
    }
  }, async (request) => {
    const self = callerOf(request)
    const body = request.body
    const region = regions.require(body.region)
    const set = callers.current()
    let subject: Caller = self
    if (body.caller !== undefined && body.caller !== self.name) {
      // Knowing what others may do is an auditor's business.
      if (!evaluatePolicy(self, { kind: 'action', region: region.code, action: 'audit:read', tenants: [] }).allowed) {
        throw new BrokerError('QB_FORBIDDEN', `checking another caller needs an audit:read grant on all tenants of region "${region.code}"; caller "${self.name}" has none`)
      }
      const other = set.byName.get(body.caller)
      if (other === undefined) throw new BrokerError('QB_INVALID_REQUEST', `no caller "${body.caller}" is configured`, { issues: [{ pointer: '/body/caller', message: 'unknown caller' }] })
      subject = { name: other.name, via: other.apiKeyHashes.length > 0 ? 'api-key' : 'jwt', grants: other.grants }
    }

    const names = body.tenant === undefined ? [] : [tenantName(body.tenant, region)]
    const target = await policyTarget(registry, subject, region.code, names)
    const path = body.path === undefined ? undefined : upstreamPath(body.path)
    // Qlik's Tenants API through the tenant-level route needs the lifecycle action, as the route itself decides.
    const tenantsCall = path === undefined ? undefined : inBody('/body/path', () => tenantsApiCall(body.method ?? 'GET', path))
    const action = body.action ?? tenantsCall?.action
    const policyRequest: PolicyRequest = action !== undefined
      ? { kind: 'action', region: region.code, action, tenants: target.tenants, createdByCaller: target.createdByCaller }
      : { kind: 'tenant-api', region: region.code, method: body.method ?? 'GET', path: path ?? '', tenants: target.tenants, createdByCaller: target.createdByCaller }
    const decision = evaluatePolicy(subject, policyRequest)
    const grant = decision.grantIndex === undefined ? undefined : subject.grants[decision.grantIndex]
    return {
      caller: subject.name,
      allowed: decision.allowed,
      reason: decision.reason,
      ...(grant === undefined || decision.grantIndex === undefined
        ? {}
        : { grant: { index: decision.grantIndex, regions: grant.regions, actions: [...grant.actions], tenantApi: [...grant.tenantApi], tenants: grant.tenants } }),
      ...(body.tenant === undefined ? {} : { tenant: { registered: target.tenant !== undefined, createdByCaller: target.createdByCaller } }),
      policyVersion: set.version
    }
  })
}

function tenantName (tenant: string, region: Parameters<typeof parseTenantReference>[1]): string {
  const reference = inBody('/body/tenant', () => parseTenantReference(tenant, region))
  return reference.kind === 'id' ? reference.id : reference.hostname
}

function upstreamPath (path: string): string {
  return inBody('/body/path', () => checkUpstreamPath(path))
}

/** The shared checks point into route parameters; here the same values come in the body. */
function inBody<T> (pointer: string, check: () => T): T {
  try {
    return check()
  } catch (error) {
    if (isBrokerError(error)) throw new BrokerError(error.code, error.message, { issues: error.issues.map((issue) => ({ ...issue, pointer })) })
    throw error
  }
}
