import type { Dispatcher } from 'undici'
import type { AuditTrail } from '../audit/audit-trail.js'
import type { Caller } from '../auth/caller.js'
import { evaluatePolicy } from '../auth/policy.js'
import type { TenantAction } from '../config/schema.js'
import { BrokerError } from '../http/broker-error.js'
import { captureUpstream, type CapturedAnswer } from '../idempotency/captured-answer.js'
import type { Logger } from '../observability/logger.js'
import type { QlikGateway } from '../qlik/qlik-gateway.js'
import type { RegionRegistry } from '../regions/region-registry.js'
import { rememberAnswer } from '../registry/registry-recorder.js'
import { policyTarget, type TenantRegistry } from '../registry/tenant-registry.js'

export interface LifecycleRequest {
  caller: Caller
  regionCode: string
  action: TenantAction
  tenantId?: string
  method: Dispatcher.HttpMethod
  path: string
  headers: Record<string, string>
  body?: unknown
  requestId: string
  logger: Logger
  /** The caller's Idempotency-Key, for the audit trail. */
  idempotencyKey?: string | undefined
}

export interface TenantLifecycle {
  /** Qlik's answer, read into memory (Tenants API answers are small): the registry is kept from it. */
  run (request: LifecycleRequest): Promise<CapturedAnswer>
  /** The policy in force on the request (throws QB_FORBIDDEN when refused); nothing is recorded, minted or sent. */
  authorize (request: LifecycleRequest): Promise<void>
}

/** Actions Qlik only accepts on the register host with the regional client's token. */
const REGISTER_ONLY: ReadonlySet<TenantAction> = new Set(['tenants:create', 'tenants:deactivate', 'tenants:reactivate'])

/**
 * Tenant lifecycle on Qlik's Tenants API: policy first (nothing is minted or
 * sent for a refused request; the tenant registry tells which tenants a
 * caller created), then the right host, then Qlik's answer as is, which
 * also keeps the registry current. Every outcome is one audit event.
 */
export function createTenantLifecycle (options: { regions: RegionRegistry, gateway: QlikGateway, tenantReadsVia: 'register' | 'tenant', registry: TenantRegistry, audit: AuditTrail }): TenantLifecycle {
  const { regions, gateway, registry } = options
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
      const event = { requestId: request.requestId, caller: request.caller.name, region: region.code, action: request.action, tenant: request.tenantId, idempotencyKey: request.idempotencyKey }
      let target
      try {
        target = await policyTarget(registry, request.caller, region.code, request.tenantId === undefined ? [] : [request.tenantId])
      } catch (error) {
        await options.audit.record(request.logger, { ...event, outcome: 'failed', durationMs: Math.round(performance.now() - started) })
        throw error
      }
      const decision = evaluatePolicy(request.caller, { kind: 'action', region: region.code, action: request.action, tenants: target.tenants, createdByCaller: target.createdByCaller })
      if (!decision.allowed) {
        await options.audit.record(request.logger, { ...event, outcome: 'denied' })
        throw new BrokerError('QB_FORBIDDEN', decision.reason)
      }
      try {
        const host = REGISTER_ONLY.has(request.action) || options.tenantReadsVia === 'register' || request.tenantId === undefined
          ? region.registerHost
          : await gateway.resolveTenantHost(region, request.tenantId, request.requestId)
        const response = await gateway.forward({
          region,
          host,
          method: request.method,
          path: request.path,
          headers: request.headers,
          body: request.body === undefined ? undefined : JSON.stringify(request.body),
          requestId: request.requestId
        })
        const answer = await captureUpstream(response)
        const registered = await rememberAnswer(registry, { action: request.action, caller: request.caller.name, region: region.code, tenantId: request.tenantId, requestBody: request.body, answer }, request.logger)
        await options.audit.record(request.logger, { ...event, tenant: event.tenant ?? registered?.id, outcome: 'allowed', upstreamStatus: answer.statusCode, durationMs: Math.round(performance.now() - started) })
        return answer
      } catch (error) {
        await options.audit.record(request.logger, { ...event, outcome: 'failed', durationMs: Math.round(performance.now() - started) })
        throw error
      }
    }
  }
}
