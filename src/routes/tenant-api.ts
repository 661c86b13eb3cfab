import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Dispatcher } from 'undici'
import { z } from 'zod'
import { auditedCall } from '../audit/audited-call.js'
import type { AuditTrail } from '../audit/audit-trail.js'
import { allowsOnEveryTenant, evaluatePolicy, mayAllowForSomeTenant } from '../auth/policy.js'
import { callerOf } from '../http/authentication.js'
import { BrokerError } from '../http/broker-error.js'
import { keyedRequestOf } from '../http/idempotent-request.js'
import { sendAnswer } from '../http/send-answer.js'
import { captureUpstream, isCaptured, type CapturedAnswer } from '../idempotency/captured-answer.js'
import type { Idempotency } from '../idempotency/idempotency.js'
import { IDEMPOTENT_ERRORS, IdempotencyKeyHeaderSchema } from '../idempotency/idempotency-schemas.js'
import { upstreamRequestHeaders } from '../qlik/header-policy.js'
import type { QlikGateway } from '../qlik/qlik-gateway.js'
import type { UpstreamResponse } from '../qlik/upstream-client.js'
import type { RegionRegistry } from '../regions/region-registry.js'
import { parseTenantReference } from '../regions/tenant-reference.js'
import { checkUpstreamPath } from '../regions/upstream-path.js'
import { rewriteLocation, type RedirectContext } from '../regions/redirect-location.js'
import { rememberAnswer } from '../registry/registry-recorder.js'
import { policyTarget, type RegisteredTenant, type TenantRegistry } from '../registry/tenant-registry.js'
import { primaryHost, type TenantHostResolver } from '../tenants/tenant-host.js'
import { tenantsApiCall } from '../tenants/tenants-api-call.js'
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
  hosts: TenantHostResolver
  idempotency: Idempotency
  registry: TenantRegistry
  audit: AuditTrail
}

export const tenantApiRoutes: FastifyPluginAsyncZod<TenantApiOptions> = async (app, { regions, gateway, hosts, idempotency, registry, audit }) => {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })

  app.route({
    method: [...METHODS],
    url: '/regions/:region/tenants/:tenant/api/v1/*',
    config: { authenticate: true },
    schema: {
      tags: ['Tenant-level API'],
      summary: 'Any Qlik tenant-level API call, sent to the tenant\'s host with a token minted there',
      description: 'Allowed by `tenantApi` grants (method + path pattern); calls to Qlik\'s Tenants API (`/api/v1/tenants/**`) need the lifecycle action instead (`tenants:read`, `tenants:update`, …), as on `/regions/{region}/api/v1/tenants`. ' +
        'A tenant the broker\'s registry knows is reached on its first hostname, whichever of its names the caller used. Qlik\'s answer comes back as Qlik sent it; a redirect to the same host is rewritten to this route, one to any other host is refused (502).',
      security: BEARER_SECURITY,
      params: ParamsSchema,
      headers: z.object({ 'idempotency-key': IdempotencyKeyHeaderSchema }),
      response: { 400: ProblemSchema, ...AUTHENTICATED_ERRORS, ...IDEMPOTENT_ERRORS }
    },
    handler: async (request, reply) => {
      const caller = callerOf(request)
      const region = regions.require(request.params.region)
      const [pathname = '', query] = splitUrl(request.raw.url ?? '')
      const tenantStart = pathname.indexOf('/tenants/') + '/tenants/'.length
      const apiStart = pathname.indexOf('/api/v1', tenantStart)
      const path = checkUpstreamPath(pathname.slice(apiStart))
      const method = request.method as Dispatcher.HttpMethod
      const reference = parseTenantReference(request.params.tenant, region)
      const named = reference.kind === 'id' ? reference.id : reference.hostname
      // Qlik's Tenants API through this route needs what the lifecycle route needs.
      const tenantsCall = tenantsApiCall(method, path)
      const policyRequest = tenantsCall === undefined
        ? { kind: 'tenant-api' as const, region: region.code, method, path }
        : { kind: 'action' as const, region: region.code, action: tenantsCall.action }
      const event = { requestId: request.id, caller: caller.name, region: region.code, tenant: named, tenantHostname: reference.kind === 'hostname' ? reference.hostname : undefined, action: tenantsCall?.action ?? 'tenant-api', method, path }

      /**
       * The policy in force on this call, before anything is minted or sent.
       * Names the canonical tenant (id, host) on `audited` as soon as it is known,
       * and answers where the call goes and which registered tenant it reaches.
       */
      const judge = async (audited: { tenant?: string | undefined, tenantHostname?: string | undefined }): Promise<{ host: string, knownTenantId: string | undefined, registeredAs: (tenantId: string | undefined) => RegisteredTenant | null | undefined }> => {
        // A grant for all tenants settles it at once: the lookups below then only find where the call goes.
        const onEveryTenant = allowsOnEveryTenant(caller, policyRequest)
        // Refuse before anything is resolved or minted when no grant could apply.
        if (!onEveryTenant && !mayAllowForSomeTenant(caller, policyRequest)) {
          throw new BrokerError('QB_FORBIDDEN', evaluatePolicy(caller, { ...policyRequest, tenants: [named] }).reason)
        }
        // A tenant the registry knows is judged on all its names and its creator, and is
        // reached on its first hostname (Qlik never changes it): the decision and the
        // destination are the same tenant, whatever alias the caller used or once had.
        const known = await policyTarget(registry, caller, region.code, [named], { always: true })
        const knownHost = known.tenant === undefined ? undefined : primaryHost(known.tenant, region)
        // Nothing is asked of Qlik for a tenant the names known so far already refuse, unless a grant lists a hostname the lookup could add.
        if (!onEveryTenant) {
          const early = evaluatePolicy(caller, { ...policyRequest, tenants: known.tenants, createdByCaller: known.createdByCaller })
          if (!early.allowed && (knownHost !== undefined || !caller.grants.some((grant) => Array.isArray(grant.tenants) && grant.tenants.some((name) => name.includes('.'))))) {
            throw new BrokerError('QB_FORBIDDEN', early.reason)
          }
        }
        const host = knownHost ?? (reference.kind === 'hostname' ? reference.hostname : await hosts.hostOf(region, reference.id, request.id))
        audited.tenant = known.tenant?.id ?? named
        audited.tenantHostname = host
        if (!onEveryTenant) {
          const decision = evaluatePolicy(caller, { ...policyRequest, tenants: [...new Set([...known.tenants, host])], createdByCaller: known.createdByCaller })
          if (!decision.allowed) throw new BrokerError('QB_FORBIDDEN', decision.reason)
        }
        // `/api/v1/tenants/{id}` names a tenant too: the action must be allowed on it as well.
        const pathTenant = tenantsCall?.tenantId
        if (tenantsCall !== undefined && pathTenant !== undefined && pathTenant !== known.tenant?.id && pathTenant !== named) {
          const other = await policyTarget(registry, caller, region.code, [pathTenant])
          const onPath = evaluatePolicy(caller, { kind: 'action', region: region.code, action: tenantsCall.action, tenants: other.tenants, createdByCaller: other.createdByCaller })
          if (!onPath.allowed) throw new BrokerError('QB_FORBIDDEN', onPath.reason)
        }
        // What the registry said about a tenant when the call was judged (rememberAnswer skips writes that change nothing).
        const registeredAs = (tenantId: string | undefined): RegisteredTenant | null | undefined => {
          if (known.tenant !== undefined) return tenantId === known.tenant.id ? known.tenant : undefined
          return known.unregistered === true && tenantId === named ? null : undefined
        }
        return { host, knownTenantId: known.tenant?.id, registeredAs }
      }

      const call = async (idempotencyKey: string | undefined): Promise<UpstreamResponse | CapturedAnswer> => {
        // Filled in with the canonical tenant (id, host) once known; recorded when the call ends.
        const audited = { ...event, idempotencyKey }
        return await auditedCall(audit, request.log, audited, async () => {
          const { host, knownTenantId, registeredAs } = await judge(audited)
          const body = Buffer.isBuffer(request.body) && request.body.length > 0 ? request.body : undefined
          const response = await gateway.forward({
            region,
            host,
            method,
            path: query === undefined ? path : `${path}?${query}`,
            headers: upstreamRequestHeaders(request.headers, request.id),
            body,
            requestId: request.id
          })
          // The redirect context reads the request's Host and protocol: only built for a redirect.
          const answer = isRedirect(response) ? await passRedirect(response, { brokerPrefix: pathname.slice(0, apiStart), brokerOrigin: `${request.protocol}://${request.host}`, upstreamHost: host }) : response
          if (tenantsCall === undefined) return answer
          // Names, hostnames and status changed through this route keep the registry current too.
          const captured = isCaptured(answer) ? answer : await captureUpstream(answer)
          const tenantId = tenantsCall.tenantId ?? knownTenantId ?? (reference.kind === 'id' ? reference.id : undefined)
          await rememberAnswer(registry, { action: tenantsCall.action, caller: caller.name, region: region.code, tenantId, requestBody: jsonOf(body), answer: captured, registered: registeredAs(tenantId) }, request.log)
          return captured
        })
      }
      if (!MUTATING.has(method)) {
        const answer = await call(undefined)
        return await sendAnswer(reply, answer)
      }
      const keyedEvent = { ...event }
      return await sendAnswer(reply, await idempotency.respond(keyedRequestOf(request), {
        authorize: async () => { await judge(keyedEvent) },
        event: keyedEvent,
        check: `GET /regions/${region.code}/tenants/${request.params.tenant}${path} (or its collection) shows whether it was done.`
      }, call))
    }
  })
}

function isRedirect (response: UpstreamResponse): boolean {
  return response.statusCode >= 300 && response.statusCode < 400 && response.headers.location !== undefined
}

/** Qlik's redirect rewritten to the broker's route when it stays on the same host; a redirect anywhere else is refused. */
async function passRedirect (response: UpstreamResponse, context: RedirectContext): Promise<UpstreamResponse> {
  const location = response.headers.location
  const rewritten = typeof location === 'string' ? rewriteLocation(location, context) : undefined
  if (rewritten === undefined) {
    await response.body.dump()
    throw new BrokerError('QB_UPSTREAM_REDIRECT_REFUSED', `Qlik answered HTTP ${response.statusCode} with a redirect away from ${context.upstreamHost}; the broker only follows redirects within the tenant's host`)
  }
  return { ...response, headers: { ...response.headers, location: rewritten } }
}

function jsonOf (body: Buffer | undefined): unknown {
  if (body === undefined) return undefined
  try {
    return JSON.parse(body.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}

function splitUrl (url: string): [string, string | undefined] {
  const index = url.indexOf('?')
  return index === -1 ? [url, undefined] : [url.slice(0, index), url.slice(index + 1)]
}
