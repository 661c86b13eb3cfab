import { readFileSync } from 'node:fs'
import type { Logger as PinoLogger } from 'pino'
import type { AppDeps } from './app.js'
import { createApiKeyVerifier } from './auth/api-key-verifier.js'
import { createReloadingVerifier, withCurrentGrants } from './registry/caller-directory.js'
import { createGovernance } from './registry/governance.js'
import { combineVerifiers, type CallerVerifier } from './auth/caller.js'
import { createJwtVerifier } from './auth/jwt-verifier.js'
import type { Config } from './config/load-config.js'
import { createMetrics, type BrokerMetrics } from './observability/metrics.js'
import { instrumentUpstream } from './observability/metrics-upstream.js'
import { createReadiness } from './observability/readiness.js'
import { TRACING_OFF, type Tracing } from './observability/tracing.js'
import { createCircuitBreaker } from './qlik/circuit-breaker.js'
import { createQlikGateway } from './qlik/qlik-gateway.js'
import { createMemoryRateBudget, createRedisRateBudget } from './qlik/rate-budget.js'
import { createBucketTable } from './qlik/rate-buckets.js'
import { createTokenEndpoint } from './qlik/token-endpoint.js'
import { createUpstreamClient, type UpstreamClientOptions } from './qlik/upstream-client.js'
import { createQuotaCounter } from './quota/quota-counter.js'
import type { RedisClient } from './redis/redis-client.js'
import { connectRedis } from './redis/redis-connection.js'
import { redisTopologyOf } from './redis/redis-topology.js'
import { createRegionRegistry } from './regions/region-registry.js'
import { createClientHistory, type ClientHistory } from './clients/client-history.js'
import { createRedisJobStore } from './bot-users/redis-job-store.js'
import { recordClientUse } from './clients/recording-secrets-source.js'
import { createFileSecretsSource } from './secrets/file-secrets-source.js'
import type { SecretsSource } from './secrets/secrets-source.js'
import { createVaultSecretsSource, type VaultAuthOptions } from './secrets/vault-secrets-source.js'
import { watchSecretVersions } from './secrets/version-watcher.js'
import { createMemoryTokenStore } from './tokens/memory-token-store.js'
import { createRedisTokenStore } from './tokens/redis-token-store.js'
import { createTokenCipher, parseCipherKeys } from './tokens/token-cipher.js'
import { createTokenProvider } from './tokens/token-provider.js'
import type { TokenStore } from './tokens/token-store.js'

export interface Dependencies extends AppDeps {
  secrets: SecretsSource
  metrics: BrokerMetrics
  tracing: Tracing
  clientHistory: ClientHistory
  /**
   * Loads every region's credentials now, and retries the missing ones in
   * the background until all are held (readiness waits for them).
   */
  warmUp (): Promise<void>
  /** Closes what was created here, after the app has stopped taking requests. */
  close (): Promise<void>
}

export interface DependencyOverrides {
  /** E.g. an undici MockAgent or a proxy agent. */
  upstream?: Pick<UpstreamClientOptions, 'dispatcher'>
  secrets?: SecretsSource
  /** Started by startBroker (it loads OpenTelemetry only when on); default off. Closed with the dependencies. */
  tracing?: Tracing
}

function readTrimmed (path: string): string {
  return readFileSync(path, 'utf8').trim()
}

function createSecretsSource (config: Config, logger: PinoLogger, metrics: BrokerMetrics): { source: SecretsSource, stopWatching: () => void } {
  const { secrets } = config
  if (secrets.source === 'file') {
    // The file source re-checks its files itself.
    return {
      stopWatching: () => {},
      source: createFileSecretsSource({
        dir: secrets.dir,
        regions: Object.fromEntries(config.regions.map((region) => [region.code, region.secretPath])),
        logger: logger.child({ module: 'secrets' }),
        recheckIntervalMs: secrets.checkIntervalSeconds * 1000
      })
    }
  }
  const vault = secrets.vault
  // Token and secret_id files are handed over as paths, never read here: their
  // writers (a Vault Agent sink) replace them, and the Vault source follows.
  const auth: VaultAuthOptions = vault.authMethod === 'token'
    ? (vault.token === undefined ? { method: 'token', tokenFile: vault.tokenFile ?? '' } : { method: 'token', token: vault.token })
    : vault.authMethod === 'approle'
      ? (vault.secretId === undefined
          ? { method: 'approle', mount: vault.approleMount, roleId: vault.roleId ?? '', secretIdFile: vault.secretIdFile ?? '' }
          : { method: 'approle', mount: vault.approleMount, roleId: vault.roleId ?? '', secretId: vault.secretId })
      : { method: 'kubernetes', mount: vault.kubernetesMount, role: vault.kubernetesRole ?? '', jwtPath: vault.kubernetesTokenPath }
  const source = createVaultSecretsSource({
    address: vault.address,
    kvMount: vault.kvMount,
    regions: Object.fromEntries(config.regions.map((region) => [region.code, { path: region.secretPath }])),
    auth,
    requestTimeoutMs: vault.timeoutMs,
    logger: logger.child({ module: 'vault' }),
    onEvent: metrics.onVaultEvent,
    ...(vault.namespace === undefined ? {} : { namespace: vault.namespace }),
    ...(vault.caFile === undefined ? {} : { caCertPem: readFileSync(vault.caFile, 'utf8') })
  })
  const stopWatching = watchSecretVersions({ source, regions: config.regions.map((region) => region.code), intervalMs: secrets.checkIntervalSeconds * 1000, logger: logger.child({ module: 'vault' }) })
  return { source, stopWatching }
}

function createTokenStore (config: Config, logger: PinoLogger): { store: TokenStore, redis: RedisClient | undefined } {
  const { cache } = config
  // One client (single server, Sentinel or Cluster) for every Redis use of the broker.
  const topology = redisTopologyOf(cache, (path) => readFileSync(path, 'utf8'))
  if (topology === undefined) return { store: createMemoryTokenStore(), redis: undefined }
  const keys = parseCipherKeys(cache.encryptionKeys ?? readTrimmed(cache.encryptionKeysFile ?? ''))
  const redis = connectRedis(topology, logger.child({ module: 'redis' }))
  return {
    redis,
    store: createRedisTokenStore({ redis, cipher: createTokenCipher(keys), keyPrefix: cache.keyPrefix, logger: logger.child({ module: 'token-store' }) })
  }
}

/** Creates the clients the broker talks through (Vault or files, Redis, Qlik), from configuration. */
export function createDependencies (config: Config, logger: PinoLogger, overrides: DependencyOverrides = {}): Dependencies {
  const metrics = createMetrics({ regions: config.regions })
  const tracing = overrides.tracing ?? TRACING_OFF
  const { source: unrecorded, stopWatching } = overrides.secrets === undefined ? createSecretsSource(config, logger, metrics) : { source: overrides.secrets, stopWatching: () => {} }
  const { store, redis } = createTokenStore(config, logger)
  const clientHistory = createClientHistory({ redis, keyPrefix: config.cache.keyPrefix, logger: logger.child({ module: 'clients' }), onChange: metrics.onClientIdChange })
  const secrets = recordClientUse(unrecorded, clientHistory)
  const upstream = tracing.traceUpstream(instrumentUpstream(createUpstreamClient({ timeoutMs: config.qlik.timeoutMs, connectTimeoutMs: config.qlik.connectTimeoutMs, ...overrides.upstream }), metrics), config.regions)
  const buckets = createBucketTable({ tier1: config.qlik.tier1Limit, tier2: config.qlik.tier2Limit }, config.qlik.rateBuckets)
  const budgetOptions = { buckets: buckets.limits, maxWaitMs: config.qlik.budgetMaxWaitMs, margins: { skewMs: config.qlik.budgetSkewMs, headroom: config.qlik.budgetHeadroomPct / 100 } }
  const budget = redis === undefined
    ? createMemoryRateBudget(budgetOptions)
    : createRedisRateBudget({ ...budgetOptions, redis, keyPrefix: config.cache.keyPrefix, logger: logger.child({ module: 'rate-budget' }) })
  const quota = createQuotaCounter({ redis, keyPrefix: config.cache.keyPrefix, logger: logger.child({ module: 'quota' }) })
  const breaker = createCircuitBreaker({ failureThreshold: config.qlik.breakerFailures, cooldownMs: config.qlik.breakerCooldownMs })
  const tokens = tracing.traceTokens(createTokenProvider({
    secrets,
    store,
    endpoint: createTokenEndpoint(upstream, { scope: config.qlik.tokenScope, budget }),
    expiryMarginMs: config.cache.expiryMarginSeconds * 1000,
    refreshWindow: config.cache.refreshWindow,
    mintLeaseMs: config.cache.mintLeaseMs,
    logger: logger.child({ module: 'tokens' }),
    onEvent: metrics.onTokenEvent
  }), config.regions)
  const regions = createRegionRegistry(config.regions)
  // API keys (`qbk_…`) first; anything else that looks like a JWT goes to the configured issuers.
  const jwt = config.issuers.length === 0 ? undefined : createJwtVerifier({ issuers: config.issuers, callers: config.callers, logger: logger.child({ module: 'jwt' }) })
  // Callers and grants follow the config file (hot reload); the API-key index is rebuilt from the callers in force.
  const governance = createGovernance({ config, redis, logger })
  const apiKeys = createReloadingVerifier(governance.callers, createApiKeyVerifier)
  // The JWT verifier keeps its key caches across reloads; only its subject and claim map follows the callers in force.
  let jwtCallersVersion = governance.callers.current().version
  const jwtFollowingReloads: CallerVerifier | undefined = jwt === undefined
    ? undefined
    : {
        async verify (credential) {
          const set = governance.callers.current()
          if (set.version !== jwtCallersVersion) {
            jwt.setCallers(set.callers)
            jwtCallersVersion = set.version
          }
          return await jwt.verify(credential)
        }
      }
  const readiness = createReadiness({ regions: config.regions, secrets, tokens, breaker, requiredRegions: config.server.readyRegions })
  metrics.watch({ tokens, readiness, breaker, ...(redis === undefined ? {} : { redisUp: () => redis.status === 'ready' }), ...(governance.idempotencyUsage === undefined ? {} : { idempotency: { usage: governance.idempotencyUsage } }) })
  let retryTimer: NodeJS.Timeout | undefined

  async function loadMissing (): Promise<void> {
    const loaded = new Set(secrets.status().loadedRegions)
    const missing = config.regions.filter((region) => !loaded.has(region.code))
    await Promise.all(missing.map(async (region) => {
      try {
        await secrets.get(region.code)
      } catch (error) {
        logger.warn({ region: region.code, err: (error as Error).message }, 'credentials not available yet; the broker stays unready until they are')
      }
    }))
    if (secrets.status().loadedRegions.length < config.regions.length) {
      retryTimer = setTimeout(() => { loadMissing().catch(() => {}) }, 5_000)
      retryTimer.unref()
    }
  }

  return {
    config,
    regions,
    secrets,
    gateway: createQlikGateway({
      upstream,
      tokens,
      budget,
      buckets,
      breaker,
      retry: { maxAttempts: config.qlik.retryMaxAttempts, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: config.qlik.budgetMaxWaitMs },
      logger: logger.child({ module: 'qlik' })
    }),
    verifier: withCurrentGrants(governance.callers, jwtFollowingReloads === undefined ? apiKeys : combineVerifiers([apiKeys, jwtFollowingReloads])),
    governance,
    readiness,
    metrics,
    tracing,
    quota,
    clientHistory,
    ...(redis === undefined ? {} : { botUserJobs: createRedisJobStore({ redis, keyPrefix: config.cache.keyPrefix }) }),
    warmUp: loadMissing,
    async close () {
      clearTimeout(retryTimer)
      stopWatching()
      await governance.close()
      tokens.close()
      await quota.close()
      await upstream.close()
      await store.close()
      await secrets.close()
      await jwt?.close()
      if (redis !== undefined) await redis.quit().catch(() => redis.disconnect())
      await tracing.shutdown()
    }
  }
}
