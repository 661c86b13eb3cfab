#!/usr/bin/env node
import { loadSimulatorConfig } from './config.js'
import { createQlikSimulator, DEMO_CLIENTS } from './index.js'
import type { QlikSimulator } from './index.js'

// Standalone Qlik Cloud simulator (the package's bin: `npx qlik-cloud-simulator`,
// or `npm run simulator` at the repository root), configured by SIM_* variables.

function fail (message: string, code: number): never {
  process.stderr.write(`qlik-simulator: ${message}\n`)
  process.exit(code)
}

const config = loadSimulatorConfig(process.env)
if (!config.ok) fail(config.message, 2)

let simulator: QlikSimulator
try {
  simulator = await createQlikSimulator(config.options)
} catch (err) {
  fail(`cannot start: ${err instanceof Error ? err.message : String(err)}`, 1)
}
const sim = simulator

const clients = config.options.clients ?? DEMO_CLIENTS
// Region and client id only: a secret never goes to a log, even a demo one.
process.stdout.write(JSON.stringify({
  level: 'info',
  msg: 'qlik simulator listening',
  url: sim.url,
  port: sim.port,
  domain: sim.domain,
  demoClients: config.demoClients,
  regions: clients.map((c) => ({ region: c.region, clientId: c.clientId, registerHost: sim.registerHost(c.region) }))
}) + '\n')

let stopping = false
function stop (signal: string): void {
  if (stopping) return
  stopping = true
  sim.close().then(() => {
    process.stdout.write(JSON.stringify({ level: 'info', msg: 'qlik simulator stopped', signal }) + '\n')
    process.exit(0)
  }, (err: unknown) => fail(`error while closing: ${err instanceof Error ? err.message : String(err)}`, 1))
}
process.once('SIGTERM', () => stop('SIGTERM'))
process.once('SIGINT', () => stop('SIGINT'))
