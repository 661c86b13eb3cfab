import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from '../support/free-port.js'

/** One redis-server (or sentinel) process of a test topology, on a free port. */
export interface RedisProcess {
  port: number
  /** A plain client to this one process, for assertions. */
  client (): Redis
  kill (): Promise<void>
}

async function untilAnswers (port: number, password: string | undefined, probe: (client: Redis) => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...(password === undefined ? {} : { password }) })
  client.on('error', () => {})
  const deadline = Date.now() + timeoutMs
  try {
    for (;;) {
      try {
        if (client.status !== 'ready') await client.connect()
        if (await probe(client)) return
      } catch {
        client.disconnect()
      }
      if (Date.now() > deadline) throw new Error(`${what} (port ${port}) not ready within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    client.disconnect()
  }
}

async function spawnRedis (args: string[], port: number, password: string | undefined, children: ChildProcess[], clients: Redis[]): Promise<RedisProcess> {
  const child = spawn('redis-server', args, { stdio: 'ignore' })
  children.push(child)
  await new Promise<void>((resolve, reject) => {
    child.once('error', (error) => { reject(new Error(`cannot start redis-server (${error.message}); install it: apt-get install -y redis-server`)) })
    child.once('spawn', () => { resolve() })
  })
  await untilAnswers(port, password, async (client) => (await client.ping()) === 'PONG', 5_000, 'redis-server')
  return {
    port,
    client () {
      const client = new Redis({ port, host: '127.0.0.1', ...(password === undefined ? {} : { password }) })
      client.on('error', () => {})
      clients.push(client)
      return client
    },
    async kill () {
      if (child.exitCode !== null || child.signalCode !== null) return
      await new Promise<void>((resolve) => {
        child.once('exit', () => { resolve() })
        child.kill('SIGKILL')
      })
    }
  }
}

async function stopAll (children: ChildProcess[], clients: Redis[], dir: string): Promise<void> {
  for (const client of clients) client.disconnect()
  await Promise.all(children.map(async (child) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    await new Promise<void>((resolve) => {
      child.once('exit', () => { resolve() })
      child.kill('SIGKILL')
    })
  }))
  rmSync(dir, { recursive: true, force: true })
}

const BASE = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no']

export interface RedisClusterSetup {
  masters: RedisProcess[]
  /** `host:port,…` for REDIS_CLUSTER_NODES. */
  nodes: string
  close (): Promise<void>
}

/** Three masters made one cluster by `redis-cli --cluster create` (no replicas), all slots served. */
export async function startRedisCluster (): Promise<RedisClusterSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'qb-redis-cluster-'))
  const children: ChildProcess[] = []
  const clients: Redis[] = []
  try {
    const masters: RedisProcess[] = []
    for (let index = 0; index < 3; index++) {
      const port = await freePort()
      const busPort = await freePort()
      masters.push(await spawnRedis([...BASE, '--port', String(port), '--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir], port, undefined, children, clients))
    }
    const addresses = masters.map((master) => `127.0.0.1:${master.port}`)
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 20_000 })
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`)
    for (const master of masters) {
      await untilAnswers(master.port, undefined, async (client) => /cluster_state:ok/.test(await client.cluster('INFO') as string) && /cluster_known_nodes:3/.test(await client.cluster('INFO') as string), 15_000, 'cluster node')
    }
    return { masters, nodes: addresses.join(','), close: async () => { await stopAll(children, clients, dir) } }
  } catch (error) {
    await stopAll(children, clients, dir)
    throw error
  }
}

export interface SentinelSetup {
  master: RedisProcess
  replica: RedisProcess
  sentinels: RedisProcess[]
  masterName: string
  /** `host:port,…` for REDIS_SENTINELS. */
  sentinelList: string
  /** The port of the master the sentinels name now. */
  currentMasterPort (): Promise<number>
  /** Resolves once every sentinel knows the replica and the two other sentinels, so a failover can happen. */
  discovered: Promise<void>
  close (): Promise<void>
}

/**
 * One master and one replica with `requirepass`, watched by three sentinels
 * (quorum 2) with their own password, quick to fail over: a master is down
 * after 500 ms of silence.
 */
export async function startSentinelSetup (options: { password: string, sentinelPassword: string, awaitDiscovery?: boolean }): Promise<SentinelSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'qb-redis-sentinel-'))
  const children: ChildProcess[] = []
  const clients: Redis[] = []
  const masterName = 'qbmaster'
  const auth = ['--requirepass', options.password, '--masterauth', options.password]
  try {
    const masterPort = await freePort()
    // --dir: a replica's full sync writes an RDB file there, never in the repository.
    // No diskless-sync delay (Redis waits 5 s by default for more replicas to share one transfer): one replica, sync at once.
    const master = await spawnRedis([...BASE, '--port', String(masterPort), '--dir', dir, '--repl-diskless-sync-delay', '0', ...auth], masterPort, options.password, children, clients)
    const replicaPort = await freePort()
    const replica = await spawnRedis([...BASE, '--port', String(replicaPort), '--dir', dir, ...auth, '--replicaof', '127.0.0.1', String(masterPort)], replicaPort, options.password, children, clients)
    await untilAnswers(replicaPort, options.password, async (client) => /master_link_status:up/.test(await client.info('replication')), 10_000, 'replica link')
    const sentinels: RedisProcess[] = []
    for (let index = 0; index < 3; index++) {
      const port = await freePort()
      const file = join(dir, `sentinel-${port}.conf`)
      writeFileSync(file, [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${dir}`,
        `requirepass ${options.sentinelPassword}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
        `sentinel auth-pass ${masterName} ${options.password}`,
        `sentinel down-after-milliseconds ${masterName} 500`,
        `sentinel failover-timeout ${masterName} 5000`,
        `sentinel parallel-syncs ${masterName} 1`,
        ''
      ].join('\n'))
      const child = spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' })
      children.push(child)
      await untilAnswers(port, options.sentinelPassword, async (client) => (await client.ping()) === 'PONG', 5_000, 'sentinel')
      sentinels.push({
        port,
        client () {
          const client = new Redis({ port, host: '127.0.0.1', password: options.sentinelPassword })
          client.on('error', () => {})
          clients.push(client)
          return client
        },
        async kill () {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
        }
      })
    }
    // Failover needs every sentinel to know the replica and the two other sentinels (hello messages, every 2 s):
    // seconds a caller may spend starting what uses the sentinels (awaitDiscovery: false), then await `discovered`.
    const discovered = (async () => {
      for (const sentinel of sentinels) {
        await untilAnswers(sentinel.port, options.sentinelPassword, async (client) => {
          const others = await client.call('SENTINEL', 'SENTINELS', masterName) as unknown[]
          const replicas = await client.call('SENTINEL', 'REPLICAS', masterName) as unknown[]
          return others.length === 2 && replicas.length === 1
        }, 20_000, 'sentinel discovery')
      }
    })()
    discovered.catch(() => {})
    if (options.awaitDiscovery !== false) await discovered
    const first = sentinels[0]
    return {
      master,
      replica,
      sentinels,
      masterName,
      discovered,
      sentinelList: sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(','),
      async currentMasterPort () {
        const client = first?.client()
        const [, port] = await client?.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName) as [string, string]
        client?.disconnect()
        return Number(port)
      },
      close: async () => { await stopAll(children, clients, dir) }
    }
  } catch (error) {
    await stopAll(children, clients, dir)
    throw error
  }
}

/** Every key of every node as text (keys and values), for leak searches across a cluster. */
export async function dumpNodes (nodes: readonly RedisProcess[], dump: (client: Redis) => Promise<string>): Promise<string> {
  const parts = await Promise.all(nodes.map(async (node) => {
    const client = node.client()
    try {
      return await dump(client)
    } finally {
      client.disconnect()
    }
  }))
  return parts.join('\n')
}
