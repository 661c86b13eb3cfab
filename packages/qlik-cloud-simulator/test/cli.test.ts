import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { loadSimulatorConfig } from '../src/config.js'

const MAIN = join(import.meta.dirname, '../src/main.ts')

function startCli (env: Record<string, string>) {
  // Only SIM_* from the test, so a developer's shell cannot change the outcome.
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIM_')))
  return spawn(process.execPath, ['--import', 'tsx', MAIN], { env: { ...cleanEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

await describe('simulator CLI', async () => {
  await it('starts with the demo clients, logs one JSON line, answers, and exits 0 on SIGTERM', { timeout: 15_000 }, async () => {
    const child = startCli({ SIM_PORT: '0', SIM_TIER2_PER_WINDOW: '5' })
    const exited = once(child, 'exit')
    try {
      const lines = createInterface({ input: child.stdout })
      const [first] = await once(lines, 'line') as [string]
      const log = JSON.parse(first)
      assert.equal(log.msg, 'qlik simulator listening')
      assert.match(log.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.equal(log.regions.length, 7)
      assert.ok(!first.includes('secret'), 'no secret in the start line')

      const res = await request(`${log.url}/oauth/token`, {
        method: 'POST',
        headers: { host: 'register.de.qlikcloud.com', 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'demo-de-client', client_secret: 'demo-de-secret' })
      })
      assert.equal(res.statusCode, 200)
      assert.equal(((await res.body.json()) as { token_type: string }).token_type, 'bearer')
    } finally {
      child.kill('SIGTERM')
    }
    const [code] = await exited
    assert.equal(code, 0)
  })

  await it('exits non-zero with a clear message on bad configuration', { timeout: 15_000 }, async () => {
    const child = startCli({ SIM_PORT: 'not-a-port' })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const [code] = await once(child, 'exit')
    assert.equal(code, 2)
    assert.match(stderr, /qlik-simulator: invalid environment/)
    assert.match(stderr, /SIM_PORT/)
  })
})

await describe('simulator env config', async () => {
  await it('reads clients from a YAML file and limits from the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qlik-sim-'))
    try {
      const file = join(dir, 'clients.yaml')
      await writeFile(file, '- region: eu\n  clientId: eu-id\n  clientSecret: eu-secret\n  name: EU Client\n')
      const config = loadSimulatorConfig({ SIM_CLIENTS_FILE: file, SIM_PORT: '4200', SIM_WINDOW_MS: '1000', SIM_TIER1_PER_WINDOW: '', SIM_LICENSE_KEYS: 'a, b' })
      assert.ok(config.ok)
      assert.deepEqual(config.options, {
        port: 4200,
        host: '127.0.0.1',
        clients: [{ region: 'eu', clientId: 'eu-id', clientSecret: 'eu-secret', name: 'EU Client' }],
        rateLimits: { windowMs: 1000 },
        licenseKeys: ['a', 'b']
      })
      assert.equal(config.demoClients, false)
    } finally {
      await rm(dir, { recursive: true })
    }
  })

  await it('reads the tenant quota and the guess options, and rejects bad values', () => {
    const config = loadSimulatorConfig({
      SIM_TENANT_QUOTA: '3',
      SIM_GUESS_LICENSE_QUOTA_STATUS: '400',
      SIM_GUESS_DEACTIVATE_CONFIRM_HOSTNAME: 'any',
      SIM_GUESS_REDEACTIVATE_ACCEPTED: 'false',
      SIM_GUESS_REGISTER_SERVES_TENANT_READS: 'true'
    })
    assert.ok(config.ok)
    assert.deepEqual(config.options, {
      port: 4100,
      host: '127.0.0.1',
      tenantQuota: 3,
      guessLicenseQuotaStatus: 400,
      guessDeactivateConfirmHostname: 'any',
      guessRedeactivateAccepted: false,
      guessRegisterServesTenantReads: true
    })
    for (const [name, value] of [['SIM_TENANT_QUOTA', '-1'], ['SIM_GUESS_LICENSE_QUOTA_STATUS', '500'], ['SIM_GUESS_DEACTIVATE_CONFIRM_HOSTNAME', 'alias'], ['SIM_GUESS_REDEACTIVATE_ACCEPTED', 'yes'], ['SIM_GUESS_REGISTER_SERVES_TENANT_READS', '1']] as const) {
      const bad = loadSimulatorConfig({ [name]: value })
      assert.ok(!bad.ok, `${name}=${value}`)
      assert.match(bad.message, new RegExp(name))
    }
  })

  await it('defaults to port 4100 and the demo clients, and rejects bad client lists', () => {
    const config = loadSimulatorConfig({})
    assert.ok(config.ok)
    assert.equal(config.options.port, 4100)
    assert.equal(config.demoClients, true)
    const dup = loadSimulatorConfig({ SIM_CLIENTS: JSON.stringify([{ region: 'eu', clientId: 'a', clientSecret: 'b' }, { region: 'eu', clientId: 'c', clientSecret: 'd' }]) })
    assert.ok(!dup.ok)
    assert.match(dup.message, /one per region/)
    const notJson = loadSimulatorConfig({ SIM_CLIENTS: '[{' })
    assert.ok(!notJson.ok)
    const both = loadSimulatorConfig({ SIM_CLIENTS: '[]', SIM_CLIENTS_FILE: 'x' })
    assert.ok(!both.ok)
  })
})
