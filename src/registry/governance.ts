import type { RedisClient } from '../redis/redis-client.js'
import { createAuditTrail, type AuditTrail } from '../audit/audit-trail.js'
import { createMemoryAuditLog } from '../audit/memory-audit-log.js'
import { createRedisAuditLog } from '../audit/redis-audit-log.js'
import type { Config } from '../config/load-config.js'
import type { IdempotencyStore } from '../idempotency/idempotency-store.js'
import { createMemoryIdempotencyStore, type MemoryIdempotencyStore, type MemoryIdempotencyUsage } from '../idempotency/memory-idempotency-store.js'
import { createRedisIdempotencyStore } from '../idempotency/redis-idempotency-store.js'
import type { Logger } from '../observability/logger.js'
import { createCallerDirectory, type CallerDirectory } from './caller-directory.js'
import { startConfigReloader } from './config-reloader.js'
import { createMemoryTenantRegistry } from './memory-tenant-registry.js'
import { createCachedTenantRegistry } from './cached-tenant-registry.js'
import { subscribeRegistryChanges } from './redis-registry-changes.js'
import { createRedisTenantRegistry } from './redis-tenant-registry.js'
import type { TenantRegistry } from './tenant-registry.js'

/** What the broker keeps about who may do what and what was done: callers in force, idempotency records, tenant registry, audit trail. */
export interface Governance {
  callers: CallerDirectory
  idempotency: IdempotencyStore
  registry: TenantRegistry
  audit: AuditTrail
  /** Size of the in-process idempotency store, for the metrics; absent with Redis. */
  idempotencyUsage?: () => MemoryIdempotencyUsage
  close (): Promise<void>
}

/**
 * In Redis (shared by every replica, under REDIS_KEY_PREFIX) when the broker
 * has one, else in process; and the config file watched for caller changes.
 */
export function createGovernance (options: { config: Config, redis: RedisClient | undefined, logger: Logger }): Governance {
  const { config, redis, logger } = options
  const callers = createCallerDirectory(config.callers)
  const keyPrefix = config.cache.keyPrefix
  const maxLen = config.governance.auditStreamMaxLen
  const audit = createAuditTrail({ log: redis === undefined ? createMemoryAuditLog({ maxLen }) : createRedisAuditLog({ redis, keyPrefix, maxLen }), logger: logger.child({ module: 'audit' }) })
  const reloader = startConfigReloader({ config, directory: callers, logger: logger.child({ module: 'config' }), intervalMs: config.governance.configCheckIntervalSeconds * 1000 })
  const { governance: limits } = config
  const idempotency = redis === undefined
    ? createMemoryIdempotencyStore(Date.now, { maxEntries: limits.idempotencyMemoryMaxEntries, maxBytes: limits.idempotencyMemoryMaxBytes })
    : createRedisIdempotencyStore({ redis, keyPrefix, perCaller: { maxKeys: limits.idempotencyMaxKeysPerCaller, maxBytes: limits.idempotencyMaxBytesPerCaller } })
  const registry = redis === undefined ? createMemoryTenantRegistry() : redisRegistry(redis, keyPrefix, limits.registryCacheSeconds)
  return {
    callers,
    idempotency,
    ...('usage' in idempotency ? { idempotencyUsage: (idempotency as MemoryIdempotencyStore).usage } : {}),
    registry,
    audit,
    async close () {
      reloader.stop()
      await audit.close()
      await registry.close()
    }
  }
}

/** The registry in Redis, its request-path lookups answered from memory between announced changes unless `cacheSeconds` is 0. */
function redisRegistry (redis: RedisClient, keyPrefix: string, cacheSeconds: number): TenantRegistry {
  const registry = createRedisTenantRegistry({ redis, keyPrefix })
  if (cacheSeconds === 0) return registry
  return createCachedTenantRegistry(registry, { feed: subscribeRegistryChanges({ redis, keyPrefix }), ttlMs: cacheSeconds * 1000, maxEntries: REGISTRY_CACHE_MAX_ENTRIES })
}

/** Answers kept per replica: a few hundred bytes each, so a few MiB at most. */
const REGISTRY_CACHE_MAX_ENTRIES = 10_000

/** Everything in process and no file watching: what an app built without dependencies.ts (a test) gets. */
export function createMemoryGovernance (config: Config, logger: Logger): Governance {
  return {
    callers: createCallerDirectory(config.callers),
    idempotency: createMemoryIdempotencyStore(Date.now, { maxEntries: config.governance.idempotencyMemoryMaxEntries, maxBytes: config.governance.idempotencyMemoryMaxBytes }),
    registry: createMemoryTenantRegistry(),
    audit: createAuditTrail({ log: createMemoryAuditLog({ maxLen: config.governance.auditStreamMaxLen }), logger: logger.child({ module: 'audit' }) }),
    async close () {}
  }
}
