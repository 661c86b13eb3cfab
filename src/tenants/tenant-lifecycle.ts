import type { Dispatcher } from 'undici'
import type { Caller } from '../auth/caller.js'
import { evaluatePolicy } from '../auth/policy.js'
import type { TenantAction } from '../config/schema.js'
import { BrokerError } from '../http/broker-error.js'
import { audit } from '../observability/audit.js'
import type { Logger } from '../observability/logger.js'
import type { QlikGateway } from '../qlik/qlik-gateway.js'
import type { UpstreamResponse } from '../qlik/upstream-client.js'
import type { RegionRegistry } from '../regions/region-registry.js'

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
}

export interface TenantLifecycle {
  run (request: LifecycleRequest): Promise<UpstreamResponse>
}

/** Actions Qlik only accepts on the register host with the regional client's token. */
const REGISTER_ONLY: ReadonlySet<TenantAction> = new Set(['tenants:create', 'tenants:deactivate', 'tenants:reactivate'])

/**
 * Tenant lifecycle on Qlik's Tenants API: policy first (nothing is minted or
 * sent for a refused request), then the right host, then Qlik's answer as is.
 */
export function createTenantLifecycle (options: { regions: RegionRegistry, gateway: QlikGateway, tenantReadsVia: 'register' | 'tenant' }): TenantLifecycle {
  const { regions, gateway } = options
  return {
    async run (request) {
      const region = regions.require(request.regionCode)
      const started = performance.now()
      const event = { requestId: request.requestId, caller: request.caller.name, region: region.code, action: request.action, tenant: request.tenantId }
      const decision = evaluatePolicy(request.caller, { kind: 'action', region: region.code, action: request.action, tenants: request.tenantId === undefined ? [] : [request.tenantId] })
      if (!decision.allowed) {
        audit(request.logger, { ...event, outcome: 'denied' })
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
        audit(request.logger, { ...event, outcome: 'allowed', upstreamStatus: response.statusCode, durationMs: Math.round(performance.now() - started) })
        return response
      } catch (error) {
        audit(request.logger, { ...event, outcome: 'failed', durationMs: Math.round(performance.now() - started) })
        throw error
      }
    }
  }
}
