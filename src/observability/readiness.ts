import type { RegionConfig } from '../config/load-config.js'
import type { CircuitBreaker, BreakerState } from '../qlik/circuit-breaker.js'
import type { SecretsSource } from '../secrets/secrets-source.js'
import type { TokenProvider } from '../tokens/token-provider.js'

export type RegionCredentialView = 'ok' | 'loaded' | 'unknown' | 'rejected' | 'unavailable'

export interface RegionHealth {
  code: string
  registerHost: string
  tenantDomain: string
  credentials: {
    status: RegionCredentialView
    since?: string
    retryAt?: string
    detail?: string
  }
  /** Circuit breakers in this replica: the register host's state, and tenant hosts whose breaker is open. */
  breakers: {
    register: BreakerState
    openTenantHosts: number
  }
}

export interface ReadinessReport {
  ready: boolean
  closing: boolean
  secretsSource: { kind: string, reachable: boolean }
  regions: RegionHealth[]
}

export interface Readiness {
  markClosing (): void
  region (region: RegionConfig): RegionHealth
  report (): ReadinessReport
}

const usable = (entry: RegionHealth): boolean => entry.credentials.status === 'ok' || entry.credentials.status === 'loaded'

/**
 * Ready means "this replica can serve": not shutting down, and at least one
 * configured region has credentials the broker can use, or, when
 * `requiredRegions` names some, every one of those. One region's credential
 * trouble is the same on every replica, so it must not take them all out of
 * the load balancer: it shows in GET /regions, metrics and logs instead.
 * A Redis outage does not make the broker unready either: it keeps serving
 * from its in-process cache.
 */
export function createReadiness (options: { regions: readonly RegionConfig[], secrets: SecretsSource, tokens: TokenProvider, breaker: CircuitBreaker, requiredRegions?: readonly string[] }): Readiness {
  const required = new Set(options.requiredRegions ?? [])
  let closing = false

  function region (config: RegionConfig): RegionHealth {
    const state = options.tokens.credentialState(config.code)
    const loaded = options.secrets.status().loadedRegions.includes(config.code)
    const status: RegionCredentialView = state.status === 'unknown' ? (loaded ? 'loaded' : 'unknown') : (state.status === 'unavailable' && loaded ? 'loaded' : state.status)
    return {
      code: config.code,
      registerHost: config.registerHost,
      tenantDomain: config.tenantDomain,
      credentials: {
        status,
        ...(state.since === undefined ? {} : { since: new Date(state.since).toISOString() }),
        ...(state.retryAt === undefined ? {} : { retryAt: new Date(state.retryAt).toISOString() }),
        ...(state.detail === undefined || status === 'ok' || status === 'loaded' ? {} : { detail: state.detail })
      },
      breakers: {
        register: options.breaker.state(config.registerHost),
        openTenantHosts: options.breaker.openHosts().filter((entry) => entry.host.endsWith(`.${config.tenantDomain}`)).length
      }
    }
  }

  return {
    markClosing () { closing = true },
    region,
    report () {
      const regions = options.regions.map(region)
      const serving = required.size > 0
        ? regions.filter((entry) => required.has(entry.code)).every(usable)
        : regions.some(usable)
      const source = options.secrets.status()
      return { ready: !closing && serving, closing, secretsSource: { kind: source.kind, reachable: source.reachable }, regions }
    }
  }
}
