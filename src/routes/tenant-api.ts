import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Dispatcher } from 'undici'
import { z } from 'zod'
import { auditedCall } from '../audit/audited-call.js'
import type { AuditTrail } from '../audit/audit-trail.js'
import { evaluatePolicy, mayAllowForSomeTenant } from '../auth/policy.js'
import { callerOf } from '../http/authentication.js'
import { BrokerError } from '../http/broker-error.js'
import { sendUpstream } from '../http/send-upstream.js'
import type { Idempotency } from '../idempotency/idempotency.js'
import { IDEMPOTENT_ERRORS, IdempotencyKeyHeaderSchema } from '../idempotency/idempotency-schemas.js'
import { upstreamRequestHeaders } from '../qlik/header-policy.js'
import type { QlikGateway } from '../qlik/qlik-gateway.js'
import type { UpstreamResponse } from '../qlik/upstream-client.js'
import type { RegionRegistry } from '../regions/region-registry.js'
import { parseTenantReference } from '../regions/tenant-reference.js'
import { checkUpstreamPath } from '../regions/upstream-path.js'
import { policyTarget, type TenantRegistry } from '../registry/tenant-registry.js'
import { AUTHENTICATED_ERRORS, BEARER_SECURITY, ProblemSchema } from './schemas.js'

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const
/** Methods that honour an Idempotency-Key (GET is idempotent by itself). */
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

const ParamsSchema = z.object({
  region: z.string().describe('Region code, e.g. eu.'),
  tenant: z.string().describe('Tenant id, or a tenant hostname inside the region\'s domain (e.g. acme.eu.qlikcloud.com).'),
  '*': z.string().describe('The rest of the Qlik path after /api/v1/.')
})

/**
 * Any Qlik tenant-level API (`/api/v1/**` on the tenant's own host) with a
 * token minted on that host, as far as the caller's `tenantApi` grants go.
 * Bodies travel as raw bytes: the broker does not interpret them.
 */
export interface TenantApiOptions {
  regions: RegionRegistry
  gateway: QlikGateway
  idempotency: Idempotency
  registry: TenantRegistry
  audit: AuditTrail
}

export const tenantApiRoutes: FastifyPluginAsyncZod<TenantApiOptions> = async (app, { regions, gateway, idempotency, registry, audit }) => {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })

  app.route({
    method: [...METHODS],
    url: '/regions/:region/tenants/:tenant/api/v1/*',
    config: { authenticate: true },
    schema: {
      tags: ['Tenant-level API'],
      summary: 'Any Qlik tenant-level API call, sent to the tenant\'s host with a token minted there',
      description: 'Allowed by `tenantApi` grants (method + path pattern). Qlik\'s answer comes back as Qlik sent it.',
      security: BEARER_SECURITY,
      params: ParamsSchema,
      headers: z.object({ 'idempotency-key': IdempotencyKeyHeaderSchema }),
      response: { 400: ProblemSchema, ...AUTHENTICATED_ERRORS, ...IDEMPOTENT_ERRORS }
    },
    handler: async (request, reply) => {
      const caller = callerOf(request)
      const region = regions.require(request.params.region)
      const [pathname = '', query] = splitUrl(request.raw.url ?? '')
      const apiStart = pathname.indexOf('/api/v1', pathname.indexOf('/tenants/') + '/tenants/'.length)
      const path = checkUpstreamPath(pathname.slice(apiStart))
      const method = request.method as Dispatcher.HttpMethod
      const policyRequest = { kind: 'tenant-api' as const, region: region.code, method, path }
      const event = { requestId: request.id, caller: caller.name, region: region.code, tenant: request.params.tenant, action: 'tenant-api', method, path }

      /** The policy in force on this call, before anything is minted or sent: the tenant's host when allowed. */
      const judge = async (): Promise<string> => {
        // Refuse before anything is resolved or minted when no grant could apply.
        if (!mayAllowForSomeTenant(caller, { ...policyRequest, tenants: [] })) {
          throw new BrokerError('QB_FORBIDDEN', evaluatePolicy(caller, { ...policyRequest, tenants: [request.params.tenant] }).reason)
        }
        const reference = parseTenantReference(request.params.tenant, region)
        // A tenant the registry knows is judged on all its names and its creator before anything is asked of Qlik.
        const known = await policyTarget(registry, caller, region.code, [reference.kind === 'id' ? reference.id : reference.hostname])
        if (known.tenant !== undefined) {
          const early = evaluatePolicy(caller, { ...policyRequest, tenants: known.tenants, createdByCaller: known.createdByCaller })
          if (!early.allowed) throw new BrokerError('QB_FORBIDDEN', early.reason)
        }
        const host = reference.kind === 'hostname' ? reference.hostname : await gateway.resolveTenantHost(region, reference.id, request.id)
        const decision = evaluatePolicy(caller, { ...policyRequest, tenants: [request.params.tenant, host, ...known.tenants], createdByCaller: known.createdByCaller })
        if (!decision.allowed) throw new BrokerError('QB_FORBIDDEN', decision.reason)
        return host
      }

      const call = async (idempotencyKey: string | undefined): Promise<UpstreamResponse> => auditedCall(audit, request.log, { ...event, idempotencyKey }, async () => {
        const host = await judge()
        const body = Buffer.isBuffer(request.body) && request.body.length > 0 ? request.body : undefined
        return await gateway.forward({
          region,
          host,
          method,
          path: query === undefined ? path : `${path}?${query}`,
          headers: upstreamRequestHeaders(request.headers, request.id),
          body,
          requestId: request.id
        })
      })
      if (!MUTATING.has(method)) return sendUpstream(reply, await call(undefined))
      return idempotency.respond(request, reply, {
        authorize: async () => { await judge() },
        event,
        check: `GET /regions/${region.code}/tenants/${request.params.tenant}${path} (or its collection) shows whether it was done.`
      }, call)
    }
  })
}

function splitUrl (url: string): [string, string | undefined] {
  const index = url.indexOf('?')
  return index === -1 ? [url, undefined] : [url.slice(0, index), url.slice(index + 1)]
}
