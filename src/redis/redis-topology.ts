/** Where the broker's Redis is and how to reach it, whatever its topology. */
export type RedisTopology =
  | { kind: 'single', url: string, connection: RedisConnection }
  | { kind: 'sentinel', sentinels: readonly RedisNode[], masterName: string, sentinelPassword: string | undefined, connection: RedisConnection }
  | { kind: 'cluster', nodes: readonly RedisNode[], connection: RedisConnection }

export interface RedisNode { host: string, port: number }

/** A list of nodes as configured; `tls` when one was written `rediss://`. */
export interface RedisNodeList { nodes: readonly RedisNode[], tls: boolean }

/** Credentials and TLS of the data nodes (and of the sentinels, for TLS). */
export interface RedisConnection {
  username: string | undefined
  password: string | undefined
  tls: boolean
  /** PEM bundle trusted for the servers' certificates; unset: the system's CAs. */
  caPem: string | undefined
}

const NODE = /^(?:(rediss?):\/\/)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/

/**
 * `host:port` or `redis[s]://host:port`, comma-separated. Returns the nodes,
 * whether any was written `rediss://`, and what could not be read.
 */
export function parseRedisNodes (list: string): { nodes: RedisNode[], tls: boolean, invalid: string[] } {
  const nodes: RedisNode[] = []
  const invalid: string[] = []
  let tls = false
  for (const entry of list.split(',').map((item) => item.trim()).filter(Boolean)) {
    const match = NODE.exec(entry)
    const port = Number(match?.[3])
    if (match === null || port < 1 || port > 65535) {
      invalid.push(entry)
      continue
    }
    if (match[1] === 'rediss') tls = true
    nodes.push({ host: (match[2] ?? '').replace(/^\[|\]$/g, ''), port })
  }
  return { nodes, tls, invalid }
}

/** The topology as written in logs and `config check`: addresses only, never a password. */
export function describeRedisTopology (topology: RedisTopology | undefined): string {
  if (topology === undefined) return 'in-process'
  const tls = topology.connection.tls ? ', TLS' : ''
  switch (topology.kind) {
    case 'single': {
      const url = new URL(topology.url)
      return `redis ${url.hostname}:${url.port === '' ? '6379' : url.port}${url.protocol === 'rediss:' ? ', TLS' : ''}`
    }
    case 'sentinel': return `redis sentinel master "${topology.masterName}" via ${topology.sentinels.length} sentinel(s)${tls}`
    case 'cluster': return `redis cluster via ${topology.nodes.length} seed node(s)${tls}`
  }
}

/** The `cache` settings that say where Redis is (see src/config/schema.ts). */
export interface RedisSettings {
  redisUrl?: string | undefined
  redisSentinels?: RedisNodeList | undefined
  redisSentinelMasterName?: string | undefined
  redisSentinelPassword?: string | undefined
  redisClusterNodes?: RedisNodeList | undefined
  redisUsername?: string | undefined
  redisPassword?: string | undefined
  redisTls: boolean
  redisTlsCaFile?: string | undefined
}

/**
 * The topology the settings describe, or undefined when none is set (the
 * broker then keeps everything in process). The settings were validated
 * (src/config/schema.ts: exactly one topology, a master name with sentinels).
 */
export function redisTopologyOf (settings: RedisSettings, readFile: (path: string) => string): RedisTopology | undefined {
  const connection: RedisConnection = {
    username: settings.redisUsername,
    password: settings.redisPassword,
    tls: settings.redisTls || settings.redisClusterNodes?.tls === true || settings.redisSentinels?.tls === true || (settings.redisUrl?.startsWith('rediss:') ?? false),
    caPem: settings.redisTlsCaFile === undefined ? undefined : readFile(settings.redisTlsCaFile)
  }
  if (settings.redisClusterNodes !== undefined) return { kind: 'cluster', nodes: settings.redisClusterNodes.nodes, connection }
  if (settings.redisSentinels !== undefined) {
    return { kind: 'sentinel', sentinels: settings.redisSentinels.nodes, masterName: settings.redisSentinelMasterName ?? '', sentinelPassword: settings.redisSentinelPassword, connection }
  }
  if (settings.redisUrl !== undefined) return { kind: 'single', url: settings.redisUrl, connection }
  return undefined
}
