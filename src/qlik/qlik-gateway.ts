import type { Dispatcher } from 'undici'
import type { RegionConfig } from '../config/load-config.js'
import { BrokerError } from '../http/broker-error.js'
import type { Logger } from '../observability/logger.js'
import { checkTenantHost } from '../regions/tenant-reference.js'
import type { TokenProvider } from '../tokens/token-provider.js'
import { readQlikErrors } from './qlik-error-envelope.js'
import type { UpstreamClient, UpstreamResponse } from './upstream-client.js'

export interface ForwardRequest {
  region: RegionConfig
  /** The Qlik host the call is for; its token is minted on that same host. */
  host: string
  method: Dispatcher.HttpMethod
  path: string
  headers: Record<string, string>
  body?: Buffer | string | undefined
  requestId: string
}

export interface QlikGateway {
  /**
   * Sends a request to Qlik with a token for its host. A 401 means Qlik no
   * longer accepts that token (and did not act): it is dropped, a new one is
   * minted and the request sent once more.
   */
  forward (request: ForwardRequest): Promise<UpstreamResponse>
  /** The first hostname of a tenant, asked of the region's register host. */
  resolveTenantHost (region: RegionConfig, tenantId: string, requestId: string): Promise<string>
}

const TENANT_HOST_TTL_MS = 10 * 60_000
const MAX_TENANT_HOSTS = 10_000

export function createQlikGateway (options: { upstream: UpstreamClient, tokens: TokenProvider, logger: Logger, now?: () => number }): QlikGateway {
  const { upstream, tokens, logger } = options
  const now = options.now ?? Date.now
  const tenantHosts = new Map<string, { hostname: string, until: number }>()

  async function forward (request: ForwardRequest): Promise<UpstreamResponse> {
    const target = { host: request.host, origin: request.region.upstreamOrigin }
    for (let attempt = 1; ; attempt++) {
      const lease = await tokens.get(request.region, request.host, request.requestId)
      const response = await upstream.send({
        target,
        method: request.method,
        path: request.path,
        headers: { ...request.headers, authorization: `Bearer ${lease.accessToken.reveal()}` },
        body: request.body
      })
      if (response.statusCode !== 401 || attempt > 1) return response
      const text = await response.body.text()
      const { codes } = readQlikErrors(text)
      if (codes.includes('TENANT_DEACTIVATED') || codes.includes('TENANT_DISABLED')) {
        throw new BrokerError('QB_TENANT_DEACTIVATED', `the tenant on ${request.host} is deactivated`)
      }
      logger.info({ region: request.region.code, host: request.host }, 'Qlik refused a cached token (401); minting a new one and retrying once')
      await tokens.invalidate(lease)
    }
  }

  return {
    forward,
    async resolveTenantHost (region, tenantId, requestId) {
      const key = `${region.code}:${tenantId}`
      const cached = tenantHosts.get(key)
      if (cached !== undefined && cached.until > now()) return cached.hostname
      const response = await forward({
        region,
        host: region.registerHost,
        method: 'GET',
        path: `/api/v1/tenants/${encodeURIComponent(tenantId)}`,
        headers: { accept: 'application/json', 'x-request-id': requestId },
        requestId
      })
      const text = await response.body.text()
      if (response.statusCode === 404) throw new BrokerError('QB_TENANT_NOT_FOUND', `Qlik knows no tenant "${tenantId}" in region "${region.code}"`)
      if (response.statusCode !== 200) throw new BrokerError('QB_UPSTREAM_UNREACHABLE', `Qlik answered HTTP ${response.statusCode} when the broker looked up tenant "${tenantId}"`)
      let hostnames: unknown
      try { hostnames = (JSON.parse(text) as { hostnames?: unknown }).hostnames } catch {}
      const first = Array.isArray(hostnames) && typeof hostnames[0] === 'string' ? hostnames[0].toLowerCase() : undefined
      const hostname = first === undefined ? undefined : checkTenantHost(first, region)
      if (hostname === undefined) throw new BrokerError('QB_INVALID_TENANT', `tenant "${tenantId}" has no hostname inside ${region.tenantDomain}; no token is sent to it`)
      if (tenantHosts.size >= MAX_TENANT_HOSTS) tenantHosts.clear()
      tenantHosts.set(key, { hostname, until: now() + TENANT_HOST_TTL_MS })
      return hostname
    }
  }
}
