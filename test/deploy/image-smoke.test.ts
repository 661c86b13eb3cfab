import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, relative } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { DEMO_CLIENTS } from '@qlik-broker/qlik-cloud-simulator'
import { REPO_ROOT, run, tempDir } from './tools.js'

/**
 * What the container images do, without Docker. The broker (the Dockerfile's
 * runtime target): compile dist/ as its build stage does, install the
 * production dependencies alone from the lockfile as its deps stage does, into
 * a clean folder (the image's /app: package.json, node_modules, dist and
 * nothing else). The simulator (its simulator target): the package's dist/
 * and its production dependencies, laid out as in that image. Then start both
 * from there on embedded defaults, as the images' CMDs do, and probe them.
 */

const SIMULATOR_PACKAGE = join('packages', 'qlik-cloud-simulator')

/**
 * What gives the simulator or the demo away: the demo clients' secrets, the
 * simulator's start line and the demo's banner (scripts/demo.ts).
 */
const GIVEAWAYS = [...DEMO_CLIENTS.map((client) => client.clientSecret), 'qlik simulator listening', 'qlik-broker demo is running']

/** Every file under `root` (symlinks followed) holding one of `needles`, byte for byte, with the needles found. */
function filesHolding (root: string, needles: readonly string[]): Map<string, string[]> {
  const found = new Map<string, string[]>()
  const patterns = needles.map((needle) => ({ needle, bytes: Buffer.from(needle) }))
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue
    const path = join(entry.parentPath, entry.name)
    let bytes: Buffer
    try {
      bytes = readFileSync(path)
    } catch {
      continue // a symlink to a folder, or a dangling one
    }
    const hits = patterns.filter((pattern) => bytes.includes(pattern.bytes)).map((pattern) => pattern.needle)
    if (hits.length > 0) found.set(relative(root, path), hits)
  }
  return found
}

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
  const simulatorApp = join(dir.path, 'simulator')
  const simulatorPackage = join(simulatorApp, SIMULATOR_PACKAGE)
  const processes: Started[] = []

  before(async () => {
    mkdirSync(app)
    mkdirSync(simulatorPackage, { recursive: true })
    for (const file of ['package.json', 'package-lock.json', '.npmrc']) {
      copyFileSync(join(REPO_ROOT, file), join(app, file))
      copyFileSync(join(REPO_ROOT, file), join(simulatorApp, file))
    }
    copyFileSync(join(REPO_ROOT, SIMULATOR_PACKAGE, 'package.json'), join(simulatorPackage, 'package.json'))
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    // The Dockerfile's stages, in parallel. Broker: build (npm run build:broker,
    // i.e. tsc -p tsconfig.json) and deps (only package.json, the lockfile and
    // .npmrc copied, as there). Simulator: simulator-build and simulator-deps.
    // tsc emits with --noCheck: the same files byte for byte as a checked build
    // (the tsconfig has isolatedModules, so no emitted line depends on a type),
    // in under half the time; the types of src/ and packages/ are held by
    // `npm run typecheck` (test/tsconfig.json), which CI runs beside the tests.
    const [build, install, simulatorBuild, simulatorInstall] = await Promise.all([
      run(process.execPath, [tsc, '-p', join(REPO_ROOT, 'tsconfig.json'), '--noCheck', '--outDir', join(app, 'dist')]),
      run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--workspaces=false', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app }),
      run(process.execPath, [tsc, '-p', join(REPO_ROOT, SIMULATOR_PACKAGE, 'tsconfig.json'), '--noCheck', '--outDir', join(simulatorPackage, 'dist')]),
      run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--workspace=@qlik-broker/qlik-cloud-simulator', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: simulatorApp })
    ])
    assert.equal(build.code, 0, `tsc -p tsconfig.json failed:\n${build.stdout}${build.stderr}`)
    assert.equal(install.code, 0, `npm ci --omit=dev failed:\n${install.stderr}`)
    assert.equal(simulatorBuild.code, 0, `the simulator's tsc failed:\n${simulatorBuild.stdout}${simulatorBuild.stderr}`)
    assert.equal(simulatorInstall.code, 0, `the simulator's npm ci --omit=dev failed:\n${simulatorInstall.stderr}`)
    // The simulator image's /app holds node_modules and the package (package.json, dist), nothing else.
    for (const file of ['package.json', 'package-lock.json', '.npmrc']) rmSync(join(simulatorApp, file))
  }, { timeout: 180_000 })

  after(async () => {
    for (const started of processes) {
      if (started.child.exitCode === null) started.child.kill('SIGKILL')
      await started.exited
    }
    dir.remove()
  })

  await it('holds the entry points the images run', () => {
    assert.ok(existsSync(join(app, 'dist', 'server.js')), 'dist/server.js (the broker image CMD) is built from src/server.ts')
    assert.ok(existsSync(join(simulatorPackage, 'dist', 'main.js')), 'dist/main.js (the simulator image CMD) is built from packages/qlik-cloud-simulator/src/main.ts')
  })

  await it('the broker image holds no simulator, no demo and none of the demo clients\' secrets, in dist/ or node_modules/', () => {
    for (const folder of ['dist', 'node_modules']) {
      const found = filesHolding(join(app, folder), GIVEAWAYS)
      assert.deepEqual(Object.fromEntries(found), {}, `${folder}/ gives the simulator or the demo away`)
    }
    const names = readdirSync(join(app, 'dist'), { recursive: true }).map(String)
    assert.deepEqual(names.filter((name) => /simulator|demo/i.test(name)), [], 'no simulator or demo module in dist/')
    assert.ok(!existsSync(join(app, 'node_modules', '@qlik-broker')), 'no workspace package (nor its link) in node_modules/')
  })

  await it('the search above is live: the simulator image holds every demo secret and its start line', () => {
    const found = [...filesHolding(join(simulatorPackage, 'dist'), GIVEAWAYS).values()].flat()
    for (const secret of DEMO_CLIENTS.map((client) => client.clientSecret)) assert.ok(found.includes(secret), `${secret} is found in the simulator's dist/`)
    assert.ok(found.includes('qlik simulator listening'))
  })

  await it('has production dependencies only', () => {
    for (const dev of ['typescript', 'eslint', 'tsx', '@types/node', 'kubernetes-models']) {
      assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} is a devDependency and stays out of the image`)
    }
    assert.ok(existsSync(join(app, 'node_modules', 'fastify')))
  })

  await it('starts the simulator (from its own image contents) and the broker, answers /livez and /readyz, and drains on SIGTERM', { timeout: 60_000 }, async () => {
    const simPort = await freePort()
    const brokerPort = await freePort()
    const secrets = join(dir.path, 'secrets')
    mkdirSync(secrets)
    // What a Vault Agent template renders; the simulator's demo clients.
    for (const region of REGIONS) writeFileSync(join(secrets, `${region}.json`), JSON.stringify({ client_id: `demo-${region}-client`, client_secret: `demo-${region}-secret` }))

    // Both start at once, as a compose file or a pod would start them: the
    // broker's readiness does not wait on Qlik, and each is probed below.
    const simulator = start(simulatorPackage, 'dist/main.js', { SIM_HOST: '127.0.0.1', SIM_PORT: String(simPort) })
    processes.push(simulator)
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
    await waitFor(`http://127.0.0.1:${simPort}/__sim/healthz`, simulator, 15_000, (status) => status < 500)
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
