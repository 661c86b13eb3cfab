import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { Cluster, Redis } from 'ioredis'
import { ConfigError } from '../../src/config/config-error.js'
import { loadConfig } from '../../src/config/load-config.js'
import { createRedisClient } from '../../src/redis/redis-connection.js'
import { describeRedisTopology, parseRedisNodes, redisTopologyOf } from '../../src/redis/redis-topology.js'

const KEYS = { CACHE_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 1).toString('base64') }
const root = resolve(import.meta.dirname, '../..')

function problemsOf (env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error))
    return [...error.problems]
  }
  assert.fail('expected a ConfigError')
}

function topologyOf (env: Record<string, string>, files: Record<string, string> = {}): ReturnType<typeof redisTopologyOf> {
  return redisTopologyOf(loadConfig(env).cache, (path) => files[path] ?? assert.fail(`unexpected read of ${path}`))
}

await describe('Redis topology settings', async () => {
  await it('reads REDIS_SENTINELS as host:port nodes with the master name, the sentinel password and the data nodes\' credentials', () => {
    const topology = topologyOf({ ...KEYS, REDIS_SENTINELS: 's0:26379, s1:26380,[::1]:26381', REDIS_SENTINEL_MASTER_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 'sentinel-pass', REDIS_PASSWORD: 'data-pass', REDIS_USERNAME: 'broker' })
    assert.deepEqual(topology, {
      kind: 'sentinel',
      sentinels: [{ host: 's0', port: 26379 }, { host: 's1', port: 26380 }, { host: '::1', port: 26381 }],
      masterName: 'mymaster',
      sentinelPassword: 'sentinel-pass',
      connection: { username: 'broker', password: 'data-pass', tls: false, caPem: undefined }
    })
  })

  await it('reads REDIS_CLUSTER_NODES as host:port or URLs, and turns TLS on for rediss:// nodes with the CA file\'s content', () => {
    const topology = topologyOf({ ...KEYS, REDIS_CLUSTER_NODES: 'rediss://r0:6379,r1:6380', REDIS_TLS_CA_FILE: '/etc/ca.pem' }, { '/etc/ca.pem': 'PEM' })
    assert.deepEqual(topology, { kind: 'cluster', nodes: [{ host: 'r0', port: 6379 }, { host: 'r1', port: 6380 }], connection: { username: undefined, password: undefined, tls: true, caPem: 'PEM' } })
  })

  await it('keeps everything in process when no Redis is set, and a single server for REDIS_URL', () => {
    assert.equal(topologyOf({}), undefined)
    assert.equal(topologyOf({ ...KEYS, REDIS_URL: 'redis://r:6379' })?.kind, 'single')
  })

  await it('refuses REDIS_URL with REDIS_CLUSTER_NODES, naming both, when two topologies are set', () => {
    const problems = problemsOf({ ...KEYS, REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'r0:6379' })
    assert.ok(problems.some((problem) => /REDIS_URL, REDIS_CLUSTER_NODES are all set: give one Redis topology/.test(problem)), problems.join('\n'))
  })

  await it('refuses REDIS_SENTINELS without REDIS_SENTINEL_MASTER_NAME, and a master name without sentinels', () => {
    assert.ok(problemsOf({ ...KEYS, REDIS_SENTINELS: 's0:26379' }).some((problem) => /REDIS_SENTINEL_MASTER_NAME is required with REDIS_SENTINELS/.test(problem)))
    assert.ok(problemsOf({ ...KEYS, REDIS_URL: 'redis://r:6379', REDIS_SENTINEL_MASTER_NAME: 'mymaster' }).some((problem) => /REDIS_SENTINEL_MASTER_NAME only applies with REDIS_SENTINELS/.test(problem)))
  })

  await it('refuses a node list entry that is not host:port, naming it, and an empty list', () => {
    const problems = problemsOf({ ...KEYS, REDIS_CLUSTER_NODES: 'r0:6379,r1,http://r2:6379,r3:99999' })
    assert.ok(problems.some((problem) => problem.startsWith('REDIS_CLUSTER_NODES (cache.redisClusterNodes): not host:port or redis[s]://host:port: r1, http://r2:6379, r3:99999')), problems.join('\n'))
    assert.ok(problemsOf({ ...KEYS, REDIS_SENTINELS: ' , ', REDIS_SENTINEL_MASTER_NAME: 'm' }).some((problem) => /REDIS_SENTINELS .*at least one host:port/.test(problem)))
  })

  await it('requires the cache encryption keys with Sentinel and Cluster as with REDIS_URL', () => {
    assert.ok(problemsOf({ REDIS_CLUSTER_NODES: 'r0:6379' }).some((problem) => /CACHE_ENCRYPTION_KEYS or CACHE_ENCRYPTION_KEYS_FILE is required with REDIS_CLUSTER_NODES/.test(problem)))
    assert.ok(problemsOf({ REDIS_SENTINELS: 's0:26379', REDIS_SENTINEL_MASTER_NAME: 'm' }).some((problem) => /required with REDIS_SENTINELS/.test(problem)))
  })

  await it('refuses Redis credentials when no Redis is set, and REDIS_TLS with a redis:// URL', () => {
    assert.ok(problemsOf({ REDIS_PASSWORD: 'p' }).some((problem) => /REDIS_PASSWORD is set but no Redis is/.test(problem)))
    assert.ok(problemsOf({ ...KEYS, REDIS_URL: 'redis://r:6379', REDIS_TLS: 'true' }).some((problem) => /write the URL rediss:\/\//.test(problem)))
  })

  await it('describes a topology by its addresses, never its passwords', () => {
    const sentinel = topologyOf({ ...KEYS, REDIS_SENTINELS: 's0:26379,s1:26379', REDIS_SENTINEL_MASTER_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 'sentinel-secret-1', REDIS_PASSWORD: 'data-secret-1', REDIS_TLS: 'true' })
    assert.equal(describeRedisTopology(sentinel), 'redis sentinel master "mymaster" via 2 sentinel(s), TLS')
    assert.equal(describeRedisTopology(topologyOf({ ...KEYS, REDIS_URL: 'rediss://:url-secret-1@r:6380/1' })), 'redis r:6380, TLS')
    assert.equal(describeRedisTopology(topologyOf({ ...KEYS, REDIS_CLUSTER_NODES: 'a:1,b:2,c:3' })), 'redis cluster via 3 seed node(s)')
  })

  await it('gives parseRedisNodes the URL form and the bare form alike', () => {
    assert.deepEqual(parseRedisNodes('redis://a:1/, b:2'), { nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }], tls: false, invalid: [] })
  })
})

await describe('Redis clients from a topology', async () => {
  await it('connects a single server with the URL\'s credentials winning over REDIS_PASSWORD, its db, and the CA for rediss://', () => {
    const topology = topologyOf({ ...KEYS, REDIS_URL: 'rediss://user1:url%20pass@r.internal:6390/3', REDIS_PASSWORD: 'env-pass', REDIS_TLS_CA_FILE: '/ca' }, { '/ca': 'CA-PEM' })
    assert.ok(topology !== undefined)
    const client = createRedisClient(topology)
    client.disconnect()
    assert.ok(client instanceof Redis)
    const options = client.options
    assert.equal(options.host, 'r.internal')
    assert.equal(options.port, 6390)
    assert.equal(options.db, 3)
    assert.equal(options.username, 'user1')
    assert.equal(options.password, 'url pass')
    assert.deepEqual(options.tls, { ca: 'CA-PEM' })
    assert.equal(options.enableOfflineQueue, false, 'fails fast while Redis is away')
  })

  await it('connects through the sentinels by master name with both passwords and TLS to sentinels and data nodes', () => {
    const topology = topologyOf({ ...KEYS, REDIS_SENTINELS: 's0:26379', REDIS_SENTINEL_MASTER_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 'sp', REDIS_PASSWORD: 'dp', REDIS_TLS: 'true' })
    assert.ok(topology !== undefined)
    const client = createRedisClient(topology)
    client.disconnect()
    assert.ok(client instanceof Redis)
    const options = client.options
    assert.deepEqual(options.sentinels, [{ host: 's0', port: 26379 }])
    assert.equal(options.name, 'mymaster')
    assert.equal(options.sentinelPassword, 'sp')
    assert.equal(options.password, 'dp')
    assert.equal(options.enableTLSForSentinelMode, true)
    assert.deepEqual(options.tls, {})
  })

  await it('makes a Cluster client whose node connections carry the password and TLS', () => {
    const topology = topologyOf({ ...KEYS, REDIS_CLUSTER_NODES: 'r0:6379', REDIS_PASSWORD: 'dp', REDIS_TLS: 'true' })
    assert.ok(topology !== undefined)
    const client = createRedisClient(topology)
    client.disconnect()
    assert.ok(client instanceof Cluster)
    assert.equal(client.options.redisOptions?.password, 'dp')
    assert.deepEqual(client.options.redisOptions?.tls, {})
    assert.equal(client.options.enableOfflineQueue, false)
  })
})

await describe('qlik-broker config check with Redis topologies', async () => {
  const tsx = join(root, 'node_modules', '.bin', 'tsx')
  const check = (env: Record<string, string>): { status: number | null, stdout: string, stderr: string } => {
    const result = spawnSync(tsx, ['src/cli.ts', 'config', 'check'], { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, encoding: 'utf8' })
    return { status: result.status, stdout: result.stdout, stderr: result.stderr }
  }

  await it('exits 78 listing both topology problems when REDIS_URL and REDIS_CLUSTER_NODES are set and sentinels lack a master name', () => {
    const result = check({ ...KEYS, REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'r0:6379', REDIS_SENTINELS: 's0:26379' })
    assert.equal(result.status, 78, result.stderr)
    assert.match(result.stderr, /REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES are all set/)
    assert.match(result.stderr, /REDIS_SENTINEL_MASTER_NAME is required with REDIS_SENTINELS/)
  })

  await it('exits 0 naming the sentinel topology, without its password, when the settings are complete', () => {
    const result = check({ ...KEYS, REDIS_SENTINELS: 's0:26379,s1:26379,s2:26379', REDIS_SENTINEL_MASTER_NAME: 'mymaster', REDIS_PASSWORD: 'data-secret-2' })
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /token cache redis sentinel master "mymaster" via 3 sentinel\(s\)/)
    assert.equal(`${result.stdout}${result.stderr}`.includes('data-secret-2'), false)
  })
})
