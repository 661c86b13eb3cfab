import type { Cluster, Redis } from 'ioredis'

/**
 * What the Redis-backed stores talk to: one server or a Sentinel-managed
 * master (`Redis`), or a Redis Cluster (`Cluster`). Both take the same
 * commands; on a cluster every multi-key command, script, MULTI and pipeline
 * must keep its keys in one slot, which is why every key the broker writes
 * carries a hash tag (`{…}`) naming what must stay together.
 */
export type RedisClient = Redis | Cluster

/**
 * A second connection with the same topology and credentials, e.g. for
 * SUBSCRIBE (a subscribed connection takes no other command). `Cluster` and
 * `Redis` spell `duplicate` differently: a cluster takes its start-up nodes first.
 */
export function duplicateClient (redis: RedisClient, override: { enableOfflineQueue?: boolean } = {}): RedisClient {
  return isCluster(redis) ? redis.duplicate([], override) : redis.duplicate(override)
}

export function isCluster (redis: RedisClient): redis is Cluster {
  return redis.isCluster
}
