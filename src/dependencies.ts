import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import type { Logger as PinoLogger } from 'pino'
import type { AppDeps } from './app.js'
import { createApiKeyVerifier } from './auth/api-key-verifier.js'
import type { Config } from './config/load-config.js'
import { createReadiness } from './observability/readiness.js'
import { createQlikGateway } from './qlik/qlik-gateway.js'
import { createTokenEndpoint } from './qlik/token-endpoint.js'
import { createUpstreamClient, type UpstreamClientOptions } from './qlik/upstream-client.js'
import { createRegionRegistry } from './regions/region-registry.js'
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
}

function readTrimmed (path: string): string {
  return readFileSync(path, 'utf8').trim()
}

function createSecretsSource (config: Config, logger: PinoLogger): { source: SecretsSource, stopWatching: () => void } {
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
  const auth: VaultAuthOptions = vault.authMethod === 'token'
    ? { method: 'token', token: vault.token ?? readTrimmed(vault.tokenFile ?? '') }
    : vault.authMethod === 'approle'
      ? { method: 'approle', mount: vault.approleMount, roleId: vault.roleId ?? '', secretId: vault.secretId ?? readTrimmed(vault.secretIdFile ?? '') }
      : { method: 'kubernetes', mount: vault.kubernetesMount, role: vault.kubernetesRole ?? '', jwtPath: vault.kubernetesTokenPath }
  const source = createVaultSecretsSource({
    address: vault.address,
    kvMount: vault.kvMount,
    regions: Object.fromEntries(config.regions.map((region) => [region.code, { path: region.secretPath }])),
    auth,
    requestTimeoutMs: vault.timeoutMs,
    logger: logger.child({ module: 'vault' }),
    ...(vault.namespace === undefined ? {} : { namespace: vault.namespace }),
    ...(vault.caFile === undefined ? {} : { caCertPem: readFileSync(vault.caFile, 'utf8') })
  })
  const stopWatching = watchSecretVersions({ source, regions: config.regions.map((region) => region.code), intervalMs: secrets.checkIntervalSeconds * 1000, logger: logger.child({ module: 'vault' }) })
  return { source, stopWatching }
}

function createRedis (url: string, logger: PinoLogger): Redis {
  const redis = new Redis(url, {
    // Fail fast while Redis is away: the token provider falls back to its
    // in-process cache instead of queueing requests behind a reconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 1_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000)
  })
  let lastLogged = 0
  redis.on('error', (error: Error) => {
    // ioredis repeats the error on every reconnect attempt: log it once a minute.
    if (Date.now() - lastLogged > 60_000) {
      lastLogged = Date.now()
      logger.warn({ err: error.message }, 'redis unavailable; serving tokens from the in-process cache')
    }
  })
  redis.on('ready', () => { logger.info('redis connected') })
  return redis
}

function createTokenStore (config: Config, logger: PinoLogger): { store: TokenStore, redis: Redis | undefined } {
  const { cache } = config
  if (cache.redisUrl === undefined) return { store: createMemoryTokenStore(), redis: undefined }
  const keys = parseCipherKeys(cache.encryptionKeys ?? readTrimmed(cache.encryptionKeysFile ?? ''))
  const redis = createRedis(cache.redisUrl, logger.child({ module: 'redis' }))
  return {
    redis,
    store: createRedisTokenStore({ redis, cipher: createTokenCipher(keys), keyPrefix: cache.keyPrefix, logger: logger.child({ module: 'token-store' }) })
  }
}

/** Creates the clients the broker talks through (Vault or files, Redis, Qlik), from configuration. */
export function createDependencies (config: Config, logger: PinoLogger, overrides: DependencyOverrides = {}): Dependencies {
  const { source: secrets, stopWatching } = overrides.secrets === undefined ? createSecretsSource(config, logger) : { source: overrides.secrets, stopWatching: () => {} }
  const { store, redis } = createTokenStore(config, logger)
  const upstream = createUpstreamClient({ timeoutMs: config.qlik.timeoutMs, connectTimeoutMs: config.qlik.connectTimeoutMs, ...overrides.upstream })
  const tokens = createTokenProvider({
    secrets,
    store,
    endpoint: createTokenEndpoint(upstream, { scope: config.qlik.tokenScope }),
    expiryMarginMs: config.cache.expiryMarginSeconds * 1000,
    refreshWindow: config.cache.refreshWindow,
    mintLeaseMs: config.cache.mintLeaseMs,
    logger: logger.child({ module: 'tokens' })
  })
  const regions = createRegionRegistry(config.regions)
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
    gateway: createQlikGateway({ upstream, tokens, logger: logger.child({ module: 'qlik' }) }),
    verifier: createApiKeyVerifier(config.callers),
    readiness: createReadiness({ regions: config.regions, secrets, tokens }),
    warmUp: loadMissing,
    async close () {
      clearTimeout(retryTimer)
      stopWatching()
      tokens.close()
      await upstream.close()
      await store.close()
      await secrets.close()
      if (redis !== undefined) await redis.quit().catch(() => redis.disconnect())
    }
  }
}
