import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { ConnectionOptions } from 'node:tls'
import type { Logger } from 'pino'
import type { RedisClient } from './redis-client.js'
import { describeRedisTopology, type RedisConnection, type RedisTopology } from './redis-topology.js'

/**
 * Options every connection of the broker shares, whatever the topology.
 * Fail fast while Redis is away: the token provider falls back to its
 * in-process cache, the audit log queues, instead of requests waiting
 * behind a reconnect.
 */
const COMMON: RedisOptions = {
  enableOfflineQueue: false,
  // Commands issued in the same tick (audit XADDs under load, token reads) share one socket write.
  enableAutoPipelining: true,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 1_000
}

const reconnectDelay = (attempt: number): number => Math.min(attempt * 200, 5_000)

function tlsOptions (connection: RedisConnection): ConnectionOptions | undefined {
  if (!connection.tls) return undefined
  return connection.caPem === undefined ? {} : { ca: connection.caPem }
}

function credentials (connection: RedisConnection): Pick<RedisOptions, 'username' | 'password'> {
  return {
    ...(connection.username === undefined ? {} : { username: connection.username }),
    ...(connection.password === undefined ? {} : { password: connection.password })
  }
}

/** `redis[s]://[user:password@]host[:port][/db]`; user and password in the URL win over REDIS_USERNAME/REDIS_PASSWORD. */
function singleServer (url: string, connection: RedisConnection): RedisOptions {
  const parsed = new URL(url)
  const db = Number(parsed.pathname.replace(/^\//, '') || '0')
  const tls = tlsOptions(connection)
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    ...(Number.isInteger(db) ? { db } : {}),
    ...credentials(connection),
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(tls === undefined ? {} : { tls })
  }
}

/**
 * A client for the topology: one server, the master a set of sentinels
 * names (followed through failovers), or a Redis Cluster.
 */
export function createRedisClient (topology: RedisTopology): RedisClient {
  const tls = tlsOptions(topology.connection)
  switch (topology.kind) {
    case 'single':
      return new Redis({ ...COMMON, ...singleServer(topology.url, topology.connection), retryStrategy: reconnectDelay })
    case 'sentinel':
      return new Redis({
        ...COMMON,
        ...credentials(topology.connection),
        sentinels: topology.sentinels.map((node) => ({ host: node.host, port: node.port })),
        name: topology.masterName,
        ...(topology.sentinelPassword === undefined ? {} : { sentinelPassword: topology.sentinelPassword }),
        ...(tls === undefined ? {} : { tls, enableTLSForSentinelMode: true, sentinelTLS: tls }),
        // Subscribe to the sentinels' +switch-master: reconnect to the new master at once, not at the next error.
        failoverDetector: true,
        retryStrategy: reconnectDelay,
        sentinelRetryStrategy: reconnectDelay,
        // A demoted master answers writes with READONLY until the sentinels disconnect us: reconnect (to the new master) and resend.
        reconnectOnError: (error) => error.message.startsWith('READONLY') ? 2 : false
      })
    case 'cluster':
      return new Cluster(topology.nodes.map((node) => ({ host: node.host, port: node.port })), {
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        clusterRetryStrategy: reconnectDelay,
        // MOVED/ASK during a resharding or failover: follow them, briefly.
        maxRedirections: 16,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        slotsRefreshTimeout: 2_000,
        redisOptions: {
          maxRetriesPerRequest: COMMON.maxRetriesPerRequest ?? 1,
          connectTimeout: COMMON.connectTimeout ?? 2_000,
          commandTimeout: COMMON.commandTimeout ?? 1_000,
          ...credentials(topology.connection),
          ...(tls === undefined ? {} : { tls })
        }
      })
  }
}

/** The broker's shared client; its errors logged once a minute, with addresses only (never a password). */
export function connectRedis (topology: RedisTopology, logger: Logger): RedisClient {
  const redis = createRedisClient(topology)
  const where = describeRedisTopology(topology)
  let lastLogged = 0
  redis.on('error', (error: Error) => {
    // ioredis repeats the error on every reconnect attempt: log it once a minute.
    if (Date.now() - lastLogged > 60_000) {
      lastLogged = Date.now()
      logger.warn({ err: error.message, redis: where }, 'redis unavailable; serving tokens from the in-process cache')
    }
  })
  redis.on('ready', () => { logger.info({ redis: where }, 'redis connected') })
  return redis
}
