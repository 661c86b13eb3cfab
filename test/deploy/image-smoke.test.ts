import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { REPO_ROOT, run, tempDir } from './tools.js'

/**
 * What the container image does, without Docker: compile dist/, install the
 * production dependencies alone from the lockfile into a clean folder (the
 * image's /app: package.json, node_modules, dist and nothing else), then
 * start the simulator and the broker from there on embedded defaults, as
 * the image's CMD does, and probe them.
 */

const REGIONS = ['eu', 'us']
const SHUTDOWN_GRACE_MS = 3000

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')) })
    })
  })
}

interface Started { child: ChildProcess, output: () => string, exited: Promise<number | null> }

function start (app: string, script: string, env: Record<string, string>): Started {
  // Only what the image sets plus the test's own variables: no developer environment leaks in.
  const child = spawn(process.execPath, [script], { cwd: app, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}

async function waitFor (url: string, started: Started, timeoutMs: number, accept: (status: number) => boolean): Promise<Response> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null) throw new Error(`process exited with ${started.child.exitCode}:\n${started.output()}`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) })
      if (accept(response.status)) return response
      last = `HTTP ${response.status}: ${await response.text()}`
    } catch (error) {
      last = (error as Error).message
    }
    await sleep(200)
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last}):\n${started.output()}`)
}

await describe('the image contents, run without Docker', async () => {
  const dir = tempDir('image')
  const app = join(dir.path, 'app')
  const processes: Started[] = []

  before(async () => {
    mkdirSync(app)
    for (const file of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(join(REPO_ROOT, file), join(app, file))
    // The Dockerfile's two stages, in parallel: tsc into dist/, npm ci --omit=dev.
    const [build, install] = await Promise.all([
      run(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.json'), '--outDir', join(app, 'dist')]),
      run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app })
    ])
    assert.equal(build.code, 0, `tsc -p tsconfig.json failed:\n${build.stdout}${build.stderr}`)
    assert.equal(install.code, 0, `npm ci --omit=dev failed:\n${install.stderr}`)
  }, { timeout: 180_000 })

  after(async () => {
    for (const started of processes) {
      if (started.child.exitCode === null) started.child.kill('SIGKILL')
      await started.exited
    }
    dir.remove()
  })

  await it('holds the entry points the image runs', () => {
    assert.ok(existsSync(join(app, 'dist', 'server.js')), 'dist/server.js (the image CMD) is built from src/server.ts')
    assert.ok(existsSync(join(app, 'dist', 'simulator', 'main.js')), 'dist/simulator/main.js (the compose simulator command) is built from src/simulator/main.ts')
  })

  await it('has production dependencies only', () => {
    for (const dev of ['typescript', 'eslint', 'tsx', '@types/node', 'kubernetes-models']) {
      assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} is a devDependency and stays out of the image`)
    }
    assert.ok(existsSync(join(app, 'node_modules', 'fastify')))
  })

  await it('starts the simulator and the broker, answers /livez and /readyz, and drains on SIGTERM', { timeout: 60_000 }, async () => {
    const simPort = await freePort()
    const brokerPort = await freePort()
    const secrets = join(dir.path, 'secrets')
    mkdirSync(secrets)
    // What a Vault Agent template renders; the simulator's demo clients.
    for (const region of REGIONS) writeFileSync(join(secrets, `${region}.json`), JSON.stringify({ client_id: `demo-${region}-client`, client_secret: `demo-${region}-secret` }))

    const simulator = start(app, 'dist/simulator/main.js', { SIM_HOST: '127.0.0.1', SIM_PORT: String(simPort) })
    processes.push(simulator)
    await waitFor(`http://127.0.0.1:${simPort}/__sim/healthz`, simulator, 15_000, (status) => status < 500)

    const broker = start(app, 'dist/server.js', {
      BROKER_HOST: '127.0.0.1',
      BROKER_PORT: String(brokerPort),
      BROKER_SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
      LOG_LEVEL: 'warn',
      SECRETS_SOURCE: 'file',
      SECRETS_DIR: secrets,
      QLIK_REGIONS: REGIONS.join(','),
      QLIK_UPSTREAM_ORIGIN: `http://127.0.0.1:${simPort}`
    })
    processes.push(broker)
    const base = `http://127.0.0.1:${brokerPort}`
    assert.equal((await waitFor(`${base}/livez`, broker, 20_000, (status) => status === 200)).status, 200)
    assert.equal((await waitFor(`${base}/readyz`, broker, 20_000, (status) => status === 200)).status, 200)

    const stoppedAt = Date.now()
    broker.child.kill('SIGTERM')
    assert.equal(await broker.exited, 0, `the broker exits cleanly on SIGTERM:\n${broker.output()}`)
    assert.ok(Date.now() - stoppedAt < SHUTDOWN_GRACE_MS + 2000, 'within BROKER_SHUTDOWN_GRACE_MS')
    simulator.child.kill('SIGTERM')
    assert.equal(await simulator.exited, 0, simulator.output())
  })
})
