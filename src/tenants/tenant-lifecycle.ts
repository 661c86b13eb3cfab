import type { Dispatcher } from 'undici'
import type { AuditTrail } from '../audit/audit-trail.js'
import type { Caller } from '../auth/caller.js'
import { evaluatePolicy } from '../auth/policy.js'
import type { TenantAction } from '../config/schema.js'
import { BrokerError } from '../http/broker-error.js'
import { captureUpstream, type CapturedAnswer } from '../idempotency/captured-answer.js'
import type { Logger } from '../observability/logger.js'
import type { QlikGateway } from '../qlik/qlik-gateway.js'
import type { RegionConfig } from '../config/load-config.js'
import type { RegionRegistry } from '../regions/region-registry.js'
import { rewriteLocation } from '../regions/redirect-location.js'
import { checkTenantHost } from '../regions/tenant-reference.js'
import { rememberAnswer } from '../registry/registry-recorder.js'
import { policyTarget, type TenantRegistry } from '../registry/tenant-registry.js'
import { primaryHost, type TenantHostResolver } from './tenant-host.js'

export interface LifecycleRequest {
  caller: Caller
  regionCode: string
  action: TenantAction
  tenantId?: string
  /** A hostname of the tenant the caller sent (`qlik-tenant-hostname`), checked to be a tenant host of the region. */
  tenantHostname?: string | undefined
  method: Dispatcher.HttpMethod
  path: string
  headers: Record<string, string>
  body?: unknown
  requestId: string
  logger: Logger
  /** The caller's Idempotency-Key, for the audit trail. */
  idempotencyKey?: string | undefined
  /** How the caller reached the broker (`https://broker.internal`), for a redirect Qlik gives. */
  brokerOrigin: string
}

export interface TenantLifecycle {
  /** Qlik's answer, read into memory (Tenants API answers are small): the registry is kept from it. */
  run (request: LifecycleRequest): Promise<CapturedAnswer>
  /** The policy in force on the request (throws QB_FORBIDDEN when refused); nothing is recorded, minted or sent. */
  authorize (request: LifecycleRequest): Promise<void>
}

/** Actions Qlik only accepts on the register host with the regional client's token (docs/reference/qlik-cloud-api.md §3.1). */
const REGISTER_ONLY: ReadonlySet<TenantAction> = new Set(['tenants:create', 'tenants:deactivate', 'tenants:reactivate'])

export interface TenantLifecycleOptions {
  regions: RegionRegistry
  gateway: QlikGateway
  hosts: TenantHostResolver
  /** `tenant`: GET/PATCH on the tenant's own host, where Qlik documents them (§11); `register`: the undocumented register host. */
  tenantReadsVia: 'register' | 'tenant'
  registry: TenantRegistry
  audit: AuditTrail
}

/**
 * Tenant lifecycle on Qlik's Tenants API: policy first (nothing is minted or
 * sent for a refused request; the tenant registry tells which tenants a
 * caller created), then the right host, then Qlik's answer as is, which
 * also keeps the registry current. Every outcome is one audit event, naming
 * the tenant by id and, when known, its hostname.
 */
export function createTenantLifecycle (options: TenantLifecycleOptions): TenantLifecycle {
  const { regions, gateway, registry, hosts } = options
  return {
    async authorize (request) {
      const region = regions.require(request.regionCode)
      const target = await policyTarget(registry, request.caller, region.code, request.tenantId === undefined ? [] : [request.tenantId])
      const decision = evaluatePolicy(request.caller, { kind: 'action', region: region.code, action: request.action, tenants: target.tenants, createdByCaller: target.createdByCaller })
      if (!decision.allowed) throw new BrokerError('QB_FORBIDDEN', decision.reason)
    },
    async run (request) {
      const region = regions.require(request.regionCode)
      const started = performance.now()
      const tenantHostname = request.tenantHostname === undefined ? undefined : givenHostname(request.tenantHostname, region)
      const event = { requestId: request.requestId, caller: request.caller.name, region: region.code, action: request.action, tenant: request.tenantId, tenantHostname, idempotencyKey: request.idempotencyKey }
      let target
      try {
        target = await policyTarget(registry, request.caller, region.code, request.tenantId === undefined ? [] : [request.tenantId], { always: true })
      } catch (error) {
        options.audit.record(request.logger, { ...event, outcome: 'failed', durationMs: Math.round(performance.now() - started) })
        throw error
      }
      const known = target.tenant === undefined ? undefined : primaryHost(target.tenant, region)
      if (known !== undefined) event.tenantHostname = known
      const decision = evaluatePolicy(request.caller, { kind: 'action', region: region.code, action: request.action, tenants: target.tenants, createdByCaller: target.createdByCaller })
      if (!decision.allowed) {
        options.audit.record(request.logger, { ...event, outcome: 'denied' })
        throw new BrokerError('QB_FORBIDDEN', decision.reason)
      }
      try {
        const onRegister = REGISTER_ONLY.has(request.action) || options.tenantReadsVia === 'register' || request.tenantId === undefined
        const host = onRegister || request.tenantId === undefined
          ? region.registerHost
          : await hosts.hostOf(region, request.tenantId, request.requestId, tenantHostname)
        if (!onRegister) event.tenantHostname = host
        const response = await gateway.forward({
          region,
          host,
          method: request.method,
          path: request.path,
          headers: request.headers,
          body: request.body === undefined ? undefined : JSON.stringify(request.body),
          requestId: request.requestId
        })
        const answer = brokerLocation(await captureUpstream(response), { region, host, brokerOrigin: request.brokerOrigin })
        const registered = await rememberAnswer(registry, { action: request.action, caller: request.caller.name, region: region.code, tenantId: request.tenantId, requestBody: request.body, answer, registered: target.tenant ?? (target.unregistered === true ? null : undefined) }, request.logger)
        const hostname = event.tenantHostname ?? (registered === undefined ? undefined : primaryHost(registered, region))
        options.audit.record(request.logger, { ...event, tenant: event.tenant ?? registered?.id, tenantHostname: hostname, outcome: 'allowed', upstreamStatus: answer.statusCode, durationMs: Math.round(performance.now() - started) })
        return answer
      } catch (error) {
        options.audit.record(request.logger, { ...event, outcome: 'failed', durationMs: Math.round(performance.now() - started) })
        throw error
      }
    }
  }
}

/** The `qlik-tenant-hostname` a caller sent, if it is a tenant host of the region (a token only goes to those). */
function givenHostname (value: string, region: RegionConfig): string {
  const hostname = checkTenantHost(value.toLowerCase().replace(/\.$/, ''), region)
  if (hostname === undefined) {
    throw new BrokerError('QB_INVALID_TENANT', `qlik-tenant-hostname must be a tenant hostname of region "${region.code}" (<name>.${region.tenantDomain})`, {
      issues: [{ pointer: '/headers/qlik-tenant-hostname', message: `expected <name>.${region.tenantDomain}` }]
    })
  }
  return hostname
}

/**
 * A `Location` in Qlik's answer, pointed at the broker's own route for the
 * same host (the lifecycle routes for the register host's Tenants API, the
 * tenant-level route for a tenant host), as a reverse proxy does. One that
 * points anywhere else never reaches the caller: dropped, or for a redirect
 * a 502 problem (docs/reference/qlik-cloud-api.md §11).
 */
export function brokerLocation (answer: CapturedAnswer, context: { region: RegionConfig, host: string, brokerOrigin: string }): CapturedAnswer {
  const { location } = answer.headers
  if (location === undefined) return answer
  const { region, host } = context
  const prefix = host === region.registerHost ? `/regions/${region.code}` : `/regions/${region.code}/tenants/${host}`
  const rewritten = typeof location === 'string' ? rewriteLocation(location, { upstreamHost: host, brokerPrefix: prefix, brokerOrigin: context.brokerOrigin }) : undefined
  // The register host's only broker routes are the Tenants API ones.
  const routed = rewritten !== undefined && (host !== region.registerHost || new URL(rewritten, 'https://broker').pathname.startsWith(`${prefix}/api/v1/tenants`)) ? rewritten : undefined
  if (routed !== undefined) return { ...answer, headers: { ...answer.headers, location: routed } }
  if (answer.statusCode >= 300 && answer.statusCode < 400) {
    throw new BrokerError('QB_UPSTREAM_REDIRECT_REFUSED', `Qlik answered HTTP ${answer.statusCode} with a redirect away from ${host}; the broker only passes on redirects to its own routes`)
  }
  const { location: _dropped, ...headers } = answer.headers
  return { ...answer, headers }
}
