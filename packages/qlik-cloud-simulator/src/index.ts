import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { contentState, seedContent, seedUser } from './content-seeding.js'
import { createSimulatorCore } from './core.js'
import { createRequestHandler } from './handler.js'
import { resolveOptions } from './options.js'
import type { QlikSimulator, QlikSimulatorOptions } from './types.js'

export { DEMO_CLIENTS, DATACENTERS } from './regions.js'
// Qlik's sliding-window limiter on its own, so a caller's rate budget can be
// checked against it on one clock without HTTP in between.
export { createRateLimiter } from './rate-limiter.js'
export type { RateLimiter, RateLimiterOptions, SpecialLimit, Tier } from './rate-limiter.js'
export type { AssignedRole } from './roles.js'
export type {
  App,
  AppObject,
  Automation,
  AutomationConnection,
  ContentKind,
  DataFile,
  OwnedItemState,
  SeedContentInput,
  SeededContent,
  SeedUserInput,
  TenantContentState
} from './content-types.js'
export type {
  AddTenantInput,
  Faults,
  QlikSimulator,
  QlikSimulatorOptions,
  SimulatorClient,
  SimulatorCounters,
  SimulatorRateLimits,
  Space,
  Tenant,
  TenantStatus,
  User,
  UserStatus
} from './types.js'

// Longer than the usual client idle timeouts (undici 4 s), so benchmark
// clients never race a server-side close of an idle keep-alive socket.
const KEEP_ALIVE_MS = 65_000
const CLOSE_GRACE_MS = 1000

function urlHost (address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1'
  if (address === '::') return '[::1]'
  return address.includes(':') ? `[${address}]` : address
}

/**
 * Starts a Qlik Cloud simulator on a real port. Requests are routed by their
 * Host header (port ignored): `register.{region}.{domain}` and every tenant
 * hostname; `/__sim/` is the control API on any host.
 */
export async function createQlikSimulator (options: QlikSimulatorOptions = {}): Promise<QlikSimulator> {
  const resolved = resolveOptions(options)
  const core = createSimulatorCore(resolved)
  const shutdown = new AbortController()
  const server = createServer(createRequestHandler(core, shutdown.signal))
  server.keepAliveTimeout = KEEP_ALIVE_MS
  server.headersTimeout = KEEP_ALIVE_MS + 1000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(resolved.port, resolved.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  let closing: Promise<void> | undefined

  return {
    url: `http://${urlHost(address.address)}:${address.port}`,
    port: address.port,
    domain: resolved.domain,
    registerHost: (region) => core.tenants.registerHost(region),
    close () {
      closing ??= new Promise<void>((resolve, reject) => {
        shutdown.abort()
        server.close((err) => err === undefined ? resolve() : reject(err))
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref()
      })
      return closing
    },
    counters: () => core.counters.snapshot(),
    rotateSecret: (region, newSecret) => core.clients.rotate(region, newSecret),
    recreateClient (region, input) {
      const { clientId, clientSecret } = core.recreateClient(region, input)
      return { region, clientId, clientSecret }
    },
    revokeTokens: (filter) => core.revokeTokens(filter),
    setFaults (faults) { core.faults.set(faults) },
    clearFaults () { core.faults.clear() },
    reset: (opts) => core.reset(opts),
    addTenant: (input) => core.addTenant(input),
    getTenant: (id) => core.tenantSnapshot(id),
    tenants: () => core.tenantSnapshots(),
    issuedTokens: () => core.tokens.values(),
    addUser: (tenantId, input) => seedUser(core, tenantId, input),
    seedContent: (tenantId, input) => seedContent(core, tenantId, input),
    content: (tenantId) => contentState(core, tenantId)
  }
}
