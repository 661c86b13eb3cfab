import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { compiledBrokerDir } from './compiled-broker.js'
import { freePort } from './free-port.js'

export interface BrokerProcess {
  url: string
  pid: number
  child: ChildProcess
  /** Everything the process wrote (its JSON logs), for leak searches. */
  output (): string
  kill (signal?: NodeJS.Signals): Promise<number | null>
}

const ROOT = new URL('../..', import.meta.url).pathname

/**
 * A broker as production runs it: its own process, `node server.js` from
 * `src/` compiled (./compiled-broker.ts), configured by environment and a
 * config file. Waits until /livez answers.
 */
export async function startBrokerProcess (options: { env: Record<string, string>, callers?: unknown, workDir: string, name?: string }): Promise<BrokerProcess> {
  const port = await freePort()
  const env: Record<string, string> = { ...options.env }
  if (options.callers !== undefined) {
    const file = join(options.workDir, `${options.name ?? `broker-${port}`}.yaml`)
    writeFileSync(file, stringify({ callers: options.callers }))
    env.BROKER_CONFIG_FILE = file
  }
  const child = spawn(process.execPath, ['--enable-source-maps', join(await compiledBrokerDir(), 'server.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', BROKER_HOST: '127.0.0.1', BROKER_PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const url = `http://127.0.0.1:${port}`
  // Generous: on a loaded 2-core machine, several brokers starting at once take well over 20 s.
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}:\n${output}`)
    try {
      const response = await fetch(`${url}/livez`)
      if (response.ok) break
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`broker did not start:\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    url,
    pid: child.pid ?? 0,
    child,
    output: () => output,
    async kill (signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      const exited = once(child, 'exit')
      child.kill(signal)
      const [code] = await exited as [number | null]
      return code
    }
  }
}

/** Waits until GET /readyz says ready (all regions' credentials held). */
export async function waitUntilReady (url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} never became ready`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Whether the broker at `url` says (on /metrics) that its Redis connection is up. */
export async function redisUp (url: string): Promise<boolean> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text()
    return /^qlik_broker_redis_up 1$/m.test(text)
  } catch {
    return false
  }
}
