import { spawn, type ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import { freePort } from './free-port.js'

export interface RedisServer {
  url: string
  port: number
  /** A client for assertions (scan keys, read raw values). */
  client (): Redis
  stop (): Promise<void>
  start (): Promise<void>
  close (): Promise<void>
}

/**
 * A real redis-server of the test's own on a free port, so tests never touch
 * a shared instance and can kill and restart it. Fails loudly (never skips)
 * when redis-server is not installed: `.ci/run` installs it.
 */
export async function startRedisServer (): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const clients: Redis[] = []

  async function start (): Promise<void> {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) return
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' })
    await new Promise<void>((resolve, reject) => {
      child?.once('error', (error) => { reject(new Error(`cannot start redis-server (${error.message}); install it: apt-get install -y redis-server`)) })
      child?.once('spawn', () => { resolve() })
    })
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {})
    const deadline = Date.now() + 5_000
    for (;;) {
      try {
        await probe.connect()
        await probe.ping()
        probe.disconnect()
        return
      } catch (error) {
        probe.disconnect()
        if (Date.now() > deadline) throw error
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }

  async function stop (): Promise<void> {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    await new Promise<void>((resolve) => {
      running.once('exit', () => { resolve() })
      running.kill('SIGKILL')
    })
  }

  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    client () {
      const client = new Redis({ port, host: '127.0.0.1' })
      client.on('error', () => {})
      clients.push(client)
      return client
    },
    stop,
    start,
    async close () {
      for (const client of clients) client.disconnect()
      await stop()
    }
  }
}
