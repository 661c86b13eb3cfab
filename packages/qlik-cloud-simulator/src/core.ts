import { createClientRegistry } from './clients.js'
import { createCounters } from './counters.js'
import { createFaultInjector } from './faults.js'
import { createRateLimiter } from './rate-limiter.js'
import { createTenantStore } from './tenant-store.js'
import { createTokenStore } from './tokens.js'
import type { ClientRegistry } from './clients.js'
import type { Counters } from './counters.js'
import type { FaultInjector } from './faults.js'
import type { ResolvedOptions } from './options.js'
import type { RateLimiter } from './rate-limiter.js'
import type { TenantStore } from './tenant-store.js'
import type { TokenStore } from './tokens.js'
import type { AddTenantInput, Tenant } from './types.js'

/** All simulator state, plus the operations shared by the in-process accessors and `/__sim/`. */
export interface SimulatorCore {
  options: ResolvedOptions
  clients: ClientRegistry
  tokens: TokenStore
  tenants: TenantStore
  counters: Counters
  limiter: RateLimiter
  faults: FaultInjector
  reset (options?: { state?: boolean }): void
  revokeTokens (filter?: { host?: string }): number
  /** Recreates a region's client: new id and secret, the old client's tokens die, bot users stay. */
  recreateClient (region: string, input?: { clientId?: string | undefined, clientSecret?: string | undefined }): { region: string, clientId: string, clientSecret: string, revokedTokens: number }
  addTenant (input: AddTenantInput): Tenant
  tenantSnapshot (id: string): Tenant | undefined
  tenantSnapshots (): Tenant[]
}

export function createSimulatorCore (options: ResolvedOptions): SimulatorCore {
  const { now } = options
  const clients = createClientRegistry(options.clients)
  const tokens = createTokenStore({ lifetimeMs: options.tokenLifetimeSeconds * 1000, now })
  const tenants = createTenantStore({ domain: options.domain, regions: clients.regions(), now })
  const counters = createCounters()
  const limiter = createRateLimiter({ ...options, now })
  const faults = createFaultInjector()

  return {
    options,
    clients,
    tokens,
    tenants,
    counters,
    limiter,
    faults,
    reset (opts) {
      counters.reset()
      limiter.reset()
      if (opts?.state === true) {
        tenants.reset()
        tokens.clear()
        clients.reset()
        faults.clear()
      }
    },
    revokeTokens (filter) {
      if (filter?.host === undefined) return tokens.revoke()
      const site = tenants.resolveHost(filter.host.toLowerCase())
      return site === undefined ? 0 : tokens.revoke(site.scope)
    },
    recreateClient (region, input) {
      const { client, clientSecret, previous } = clients.recreate(region, input)
      // The old bot user stays in each tenant with its content; the new
      // client gets its own bot user on its first token request there.
      return { region, clientId: client.clientId, clientSecret, revokedTokens: tokens.revokeClient(previous.clientId) }
    },
    addTenant: (input) => structuredClone(tenants.create(input).tenant),
    tenantSnapshot (id) {
      const record = tenants.get(id)
      return record === undefined ? undefined : structuredClone(record.tenant)
    },
    tenantSnapshots: () => tenants.list().map((r) => structuredClone(r.tenant))
  }
}
