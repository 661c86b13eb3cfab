import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { RegionConfig } from '../config/load-config.js'
import type { VaultEvent } from '../secrets/vault-secrets-source.js'
import type { TokenEvent } from '../tokens/token-provider.js'
import { directCounterChild, directHistogramChild } from './direct-children.js'
import { childCache, createHostClassifier, HOST_KINDS, statusClass, upstreamOperation } from './metrics-labels.js'
import type { HostKind } from './metrics-labels.js'
import type { RegionCredentialView } from './readiness.js'

export const METRIC_PREFIX = 'qlik_broker_'

/** An upstream call's status: Qlik's HTTP status, or why there was none. */
export type UpstreamOutcome = number | 'timeout' | 'unreachable'

/** What the scrape-time gauges read. Each is optional: tests and tools build brokers without some of them. */
export interface MetricSources {
  /** In-process tokens with their expiry (never the token). */
  tokens?: { held (): Array<{ region: string, host: string, expiresAt: number }> }
  /** Readiness and each region's credential status, as /readyz and /regions report them. */
  readiness?: { report (): { ready: boolean, secretsSource: { kind: string, reachable: boolean }, regions: Array<{ code: string, credentials: { status: RegionCredentialView } }> } }
  /** Whether the shared token store (Redis) is connected; absent without Redis. */
  redisUp?: () => boolean
  /** Per-host circuit breakers of the upstream client, if the broker has them. */
  breaker?: { openHosts (): Array<{ host: string, state: string }> }
  /** The in-process idempotency store (no Redis): its size and what it dropped to stay bounded. */
  idempotency?: { usage (): { entries: number, bytes: number, evictions: number } }
}

export interface BrokerMetrics {
  /** The broker's own registry (never prom-client's global one). */
  readonly registry: Registry
  readonly contentType: string
  /** One answered request; `route` is the route pattern (undefined when no route matched), never the URL. */
  observeRequest (method: string, route: string | undefined, status: number, seconds: number): void
  /** One call to Qlik; the host is reduced to (region, host kind) here. */
  observeUpstream (host: string, method: string, path: string, outcome: UpstreamOutcome, seconds: number): void
  /** For the token provider's `onEvent`. */
  readonly onTokenEvent: (event: TokenEvent) => void
  /** For the Vault secrets source's `onEvent`. */
  readonly onVaultEvent: (event: VaultEvent) => void
  /** This replica saw a region's OAuth client id change (client history). */
  readonly onClientIdChange: (region: string) => void
  /** A bot-user migration job settled one item: moved, deleted or failed. */
  readonly onBotUserItem: (region: string, kind: string, outcome: 'moved' | 'deleted' | 'failed') => void
  /** Adds sources read at scrape time. */
  watch (sources: MetricSources): void
  /** The Prometheus text exposition: the broker's metrics, then the process metrics. */
  scrape (): Promise<string>
}

const BOT_USER_KINDS = new Set(['app', 'space', 'data-file', 'automation', 'automation-connection'])

export const CREDENTIAL_STATUSES: readonly RegionCredentialView[] = ['ok', 'loaded', 'unknown', 'rejected', 'unavailable']
const VAULT_OPERATIONS: ReadonlyArray<VaultEvent['operation']> = ['login', 'read', 'metadata', 'renew', 'lookup']
const BREAKER_STATES = ['open', 'half-open'] as const
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const UPSTREAM_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
/** Route label of a request no route matched (404s of any URL): the URL itself is never a label. */
export const UNMATCHED_ROUTE = 'unmatched'

let processRegistry: Registry | undefined

/**
 * prom-client's default process metrics (CPU, memory, event loop lag, GC, …)
 * describe the process, not one broker, and their collectors (a GC observer,
 * an event-loop histogram) cannot be stopped: one registry per process, made
 * on first use, shared by every broker the process runs (tests run several).
 */
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry, prefix: METRIC_PREFIX })
  }
  return processRegistry
}

/**
 * The broker's Prometheus metrics. Label values come from bounded sets only
 * (configured regions, host kind, route patterns, status codes, fixed
 * operation names): never a tenant id, a hostname, a raw path, a caller's
 * key or anything secret. Counters known in advance are created at start so
 * they exist (at 0) before the first event; the rest are cached on first use.
 */
export function createMetrics (options: { regions: readonly RegionConfig[], now?: () => number }): BrokerMetrics {
  const now = options.now ?? Date.now
  const registry = new Registry()
  const registers = [registry]
  const regionCodes = options.regions.map((region) => region.code)
  const classify = createHostClassifier(options.regions)
  const sources: MetricSources = {}
  const name = (suffix: string): string => `${METRIC_PREFIX}${suffix}`

  // HTTP, the broker's own answers.
  const httpRequests = new Counter({ name: name('http_requests_total'), help: 'Requests the broker answered, by route pattern and status code.', labelNames: ['method', 'route', 'status'], registers })
  const httpDuration = new Histogram({ name: name('http_request_duration_seconds'), help: 'Time from receiving a request to sending the answer, by route pattern and status class.', labelNames: ['method', 'route', 'status_class'], buckets: HTTP_BUCKETS, registers })
  const httpCount = childCache((route, method, status) => directCounterChild(httpRequests, { method, route, status }))
  const httpTime = childCache((route, method, status) => directHistogramChild(httpDuration, { method, route, status_class: statusClass(Number(status)) }, HTTP_BUCKETS))

  // Upstream, the calls to Qlik.
  const upstreamRequests = new Counter({ name: name('upstream_requests_total'), help: 'Calls to Qlik by region, host kind, operation and status (HTTP status, or timeout / unreachable).', labelNames: ['region', 'host_kind', 'operation', 'status'], registers })
  const upstreamDuration = new Histogram({ name: name('upstream_request_duration_seconds'), help: 'Time until Qlik\'s response headers (or the failure), by region, host kind, operation and status class.', labelNames: ['region', 'host_kind', 'operation', 'status_class'], buckets: UPSTREAM_BUCKETS, registers })
  const rateLimited = new Counter({ name: name('upstream_rate_limited_total'), help: '429 answers received from Qlik, by region and host kind.', labelNames: ['region', 'host_kind'], registers })
  const upstreamCount = childCache((region, kind, operation, status) => directCounterChild(upstreamRequests, { region, host_kind: kind, operation, status }))
  const upstreamTime = childCache((region, kind, operation, klass) => directHistogramChild(upstreamDuration, { region, host_kind: kind, operation, status_class: klass }, UPSTREAM_BUCKETS))
  const rateLimitedBy = childCache((region, kind) => rateLimited.labels(region, kind))

  // Tokens, from the provider's events.
  const cacheHits = new Counter({ name: name('token_cache_hits_total'), help: 'Token lookups answered from a cache layer: process (in memory) or store (Redis).', labelNames: ['layer'], registers })
  const cacheMisses = new Counter({ name: name('token_cache_misses_total'), help: 'Token lookups the in-process cache could not answer.', registers })
  const mints = new Counter({ name: name('token_mints_total'), help: 'Access tokens minted at Qlik\'s /oauth/token, by region, host kind and reason (request, or refresh ahead of expiry).', labelNames: ['region', 'host_kind', 'reason'], registers })
  const mintFailures = new Counter({ name: name('token_mint_failures_total'), help: 'Mints that failed (rejected client, Qlik error, network).', labelNames: ['region', 'host_kind'], registers })
  const hostRefusals = new Counter({ name: name('token_host_refusals_total'), help: 'Token requests Qlik refused on a tenant host while the region\'s client stayed usable (misspelt, purged or foreign hostname); that host is then refused from memory for a while.', labelNames: ['region'], registers })
  const refreshAdoptions = new Counter({ name: name('token_refresh_adoptions_total'), help: 'Background refreshes that adopted a token another replica had already minted.', labelNames: ['region', 'host_kind'], registers })
  const lockWaits = new Counter({ name: name('token_lock_waits_total'), help: 'Times a request waited for another replica\'s mint (Redis lock held elsewhere).', registers })
  const storeErrors = new Counter({ name: name('token_store_errors_total'), help: 'Token store (Redis) operations that failed; the broker then serves from its in-process cache.', registers })
  // Both exist (at 0) from the start.
  const hitProcess = directCounterChild(cacheHits, { layer: 'process' })
  const hitStore = directCounterChild(cacheHits, { layer: 'store' })
  const mintBy = childCache((region, kind, reason) => mints.labels(region, kind, reason))
  const mintFailureBy = childCache((region, kind) => mintFailures.labels(region, kind))
  const adoptionBy = childCache((region, kind) => refreshAdoptions.labels(region, kind))
  const hostRefusalBy = childCache((region) => hostRefusals.labels(region))

  const remaining = new Gauge({
    name: name('token_remaining_lifetime_seconds'),
    help: 'Seconds until the first in-process token of a (region, host kind) expires at Qlik (the minimum over the tokens held).',
    labelNames: ['region', 'host_kind'],
    registers,
    collect: () => { collectHeld() }
  })
  const held = new Gauge({ name: name('tokens_held'), help: 'Access tokens held in process, by region and host kind.', labelNames: ['region', 'host_kind'], registers })

  // Secrets and readiness.
  const vaultRequests = new Counter({ name: name('vault_requests_total'), help: 'Calls to Vault by operation (login, read, metadata, renew, lookup) and outcome.', labelNames: ['operation', 'outcome'], registers })
  const vaultBy = childCache((operation, outcome) => vaultRequests.labels(operation, outcome))
  let vaultSeen = false
  const clientIdChanges = new Counter({ name: name('client_id_changes_total'), help: 'Times this replica saw a region\'s OAuth client id change (a new secret with another client_id).', labelNames: ['region'], registers })
  for (const region of regionCodes) clientIdChanges.labels(region).inc(0)
  const botUserItems = new Counter({ name: name('bot_user_items_total'), help: 'Items owned by an inactive bot user that a migration job moved, deleted or failed to move, by content kind.', labelNames: ['region', 'kind', 'outcome'], registers })
  for (const region of regionCodes) for (const outcome of ['moved', 'deleted', 'failed']) botUserItems.labels(region, 'app', outcome).inc(0)
  const credentials = new Gauge({
    name: name('region_credentials_status'),
    help: 'One series per region and status, 1 for the region\'s current credential status (as GET /regions shows it), else 0.',
    labelNames: ['region', 'status'],
    registers,
    collect: () => { collectReadiness() }
  })
  // Set by the collect above: the registry collects in registration order, so one report serves all three.
  const ready = new Gauge({ name: name('ready'), help: '1 when GET /readyz answers 200.', registers })
  const sourceReachable = new Gauge({ name: name('secrets_source_reachable'), help: '1 while the secrets source (Vault, or the files) answered the last time it was asked.', labelNames: ['source'], registers })
  const redisUp = new Gauge({
    name: name('redis_up'),
    help: '1 while the shared token store (Redis) is connected; absent without Redis.',
    registers: [],
    collect: () => { redisUp.set(sources.redisUp?.() === true ? 1 : 0) }
  })
  const breakerHosts = new Gauge({
    name: name('circuit_breaker_hosts'),
    help: 'Qlik hosts whose circuit breaker is open or half-open, by region and host kind.',
    labelNames: ['region', 'host_kind', 'state'],
    registers: [],
    collect: () => { collectBreakers() }
  })

  let evictionsSeen = 0
  const idempotencyEntries = new Gauge({
    name: name('idempotency_memory_entries'),
    help: 'Idempotency records held in process (no Redis), bounded by IDEMPOTENCY_MEMORY_MAX_ENTRIES.',
    registers,
    collect: () => {
      const usage = sources.idempotency?.usage()
      idempotencyEntries.set(usage?.entries ?? 0)
      idempotencyBytes.set(usage?.bytes ?? 0)
      idempotencyEvictions.inc(Math.max(0, (usage?.evictions ?? 0) - evictionsSeen))
      evictionsSeen = Math.max(evictionsSeen, usage?.evictions ?? 0)
    }
  })
  // Set by the collect above (registered before them); 0 with Redis.
  const idempotencyBytes = new Gauge({ name: name('idempotency_memory_bytes'), help: 'Bytes of idempotency records held in process (no Redis), bounded by IDEMPOTENCY_MEMORY_MAX_BYTES.', registers })
  const idempotencyEvictions = new Counter({ name: name('idempotency_memory_evictions_total'), help: 'Settled idempotency records dropped, oldest first, to keep the in-process store within its bounds; a repeat of one runs as a new request.', registers })

  for (const region of regionCodes) {
    hostRefusalBy(region).inc(0)
    for (const kind of HOST_KINDS) {
      // inc(0): prom-client only shows a child once it has a value.
      mintBy(region, kind, 'request').inc(0)
      mintBy(region, kind, 'refresh').inc(0)
      mintFailureBy(region, kind).inc(0)
      adoptionBy(region, kind).inc(0)
      rateLimitedBy(region, kind).inc(0)
    }
  }

  function collectHeld (): void {
    remaining.reset()
    held.reset()
    if (sources.tokens === undefined) return
    const at = now()
    const soonest = new Map<string, Map<HostKind, { seconds: number, count: number }>>()
    for (const token of sources.tokens.held()) {
      const kind = classify.kindIn(token.region, token.host)
      const byKind = soonest.get(token.region) ?? new Map<HostKind, { seconds: number, count: number }>()
      soonest.set(token.region, byKind)
      const seconds = (token.expiresAt - at) / 1000
      const entry = byKind.get(kind)
      if (entry === undefined) byKind.set(kind, { seconds, count: 1 })
      else {
        entry.seconds = Math.min(entry.seconds, seconds)
        entry.count++
      }
    }
    for (const [region, byKind] of soonest) {
      for (const [kind, entry] of byKind) {
        remaining.labels(region, kind).set(Math.max(0, entry.seconds))
        held.labels(region, kind).set(entry.count)
      }
    }
  }

  function collectReadiness (): void {
    if (sources.readiness === undefined) return
    const report = sources.readiness.report()
    for (const region of report.regions) {
      for (const status of CREDENTIAL_STATUSES) credentials.labels(region.code, status).set(region.credentials.status === status ? 1 : 0)
    }
    ready.set(report.ready ? 1 : 0)
    sourceReachable.reset()
    sourceReachable.labels(report.secretsSource.kind).set(report.secretsSource.reachable ? 1 : 0)
  }

  function collectBreakers (): void {
    breakerHosts.reset()
    if (sources.breaker === undefined) return
    const counts = new Map<string, number>()
    for (const region of regionCodes) {
      for (const kind of HOST_KINDS) for (const state of BREAKER_STATES) breakerHosts.labels(region, kind, state).set(0)
    }
    for (const entry of sources.breaker.openHosts()) {
      const { region, hostKind } = classify(entry.host)
      const key = `${region}\n${hostKind}\n${entry.state}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    for (const [key, count] of counts) {
      const [region = '', kind = '', state = ''] = key.split('\n')
      breakerHosts.labels(region, kind, state).set(count)
    }
  }

  return {
    registry,
    contentType: registry.contentType,

    observeRequest (method, route, status, seconds) {
      const pattern = route ?? UNMATCHED_ROUTE
      httpCount(pattern, method, status).inc()
      httpTime(pattern, method, status).observe(seconds)
    },

    observeUpstream (host, method, path, outcome, seconds) {
      const { region, hostKind } = classify(host)
      const operation = upstreamOperation(method, path)
      upstreamCount(region, hostKind, operation, outcome).inc()
      upstreamTime(region, hostKind, operation, typeof outcome === 'number' ? statusClass(outcome) : 'error').observe(seconds)
      if (outcome === 429) rateLimitedBy(region, hostKind).inc()
    },

    onTokenEvent: (event) => {
      switch (event.type) {
        case 'hit': (event.layer === 'process' ? hitProcess : hitStore).inc(); break
        case 'miss': cacheMisses.inc(); break
        case 'mint': mintBy(event.region, classify.kindIn(event.region, event.host), event.reason).inc(); break
        case 'mint-failed': mintFailureBy(event.region, classify.kindIn(event.region, event.host)).inc(); break
        case 'host-refused': hostRefusalBy(event.region).inc(); break
        case 'refresh-adopted': adoptionBy(event.region, classify.kindIn(event.region, event.host)).inc(); break
        case 'lock-wait': lockWaits.inc(); break
        case 'store-error': storeErrors.inc(); break
      }
    },

    onVaultEvent: (event) => {
      if (!vaultSeen) {
        // Only a broker that talks to Vault shows the Vault series (all of them, at 0 first).
        vaultSeen = true
        for (const operation of VAULT_OPERATIONS) {
          vaultBy(operation, 'ok').inc(0)
          vaultBy(operation, 'error').inc(0)
        }
      }
      vaultBy(event.operation, event.outcome).inc()
    },

    onClientIdChange: (region) => {
      if (regionCodes.includes(region)) clientIdChanges.labels(region).inc()
    },

    onBotUserItem: (region, kind, outcome) => {
      // Labels from bounded sets only: configured regions and the fixed content kinds.
      if (regionCodes.includes(region) && BOT_USER_KINDS.has(kind)) botUserItems.labels(region, kind, outcome).inc()
    },

    watch (added) {
      Object.assign(sources, added)
      if (added.redisUp !== undefined) registry.registerMetric(redisUp)
      if (added.breaker !== undefined) registry.registerMetric(breakerHosts)
    },

    async scrape () {
      const [own, processText] = await Promise.all([registry.metrics(), processMetrics().metrics()])
      return `${own}\n${processText}`
    }
  }
}
