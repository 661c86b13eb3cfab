import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'

const root = resolve(import.meta.dirname, '../..')
const workDir = mkdtempSync(join(tmpdir(), 'qb-config-check-'))
after(() => rmSync(workDir, { recursive: true, force: true }))

interface CliResult { status: number | null, stdout: string, stderr: string }

function cli (args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    // tsx as a loader in one node process (its CLI would start a second one to run the file).
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.on('error', (error) => resolve({ status: null, stdout, stderr: stderr + error.message }))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

async function configCheck (env: Record<string, string>): Promise<CliResult> {
  return await cli(['config', 'check'], { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env })
}

await describe('qlik-broker config check', async () => {
  // Each run is a fresh node process of about a second, independent of the
  // others: all three start now, at once, and each test awaits its own.
  const okFile = join(workDir, 'ok.yaml')
  writeFileSync(okFile, 'callers:\n  - name: billing\n    apiKeyHashes: ["sha256:' + 'a'.repeat(64) + '"]\n    grants:\n      - regions: [eu]\n        actions: [tenants:read]\n')
  const badFile = join(workDir, 'bad.yaml')
  writeFileSync(badFile, 'callers:\n  - name: billing\n    grants:\n      - regions: [mars]\n        actions: [tenants:read]\n')
  const valid = configCheck({ SECRETS_SOURCE: 'file', SECRETS_DIR: workDir, QLIK_REGIONS: 'eu,us', BROKER_CONFIG_FILE: okFile })
  const invalid = configCheck({ BROKER_PORT: 'eighty', REDIS_URL: 'redis://127.0.0.1:6379', BROKER_CONFIG_FILE: badFile })
  const unknownSubcommand = cli(['config', 'lint'], process.env)

  await it('exits 0 with a summary when the environment and file are valid', async () => {
    const result = await valid
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /configuration OK: regions eu, us; secrets from file; token cache in-process; 1 caller\(s\), 0 JWT issuer\(s\)/)
  })

  await it('exits 78 and lists every problem of the environment and the file at once', async () => {
    const result = await invalid
    assert.equal(result.status, 78)
    assert.equal(result.stdout, '')
    assert.match(result.stderr, /BROKER_PORT/)
    assert.match(result.stderr, /CACHE_ENCRYPTION_KEYS/)
    assert.match(result.stderr, /region "mars" is not configured/)
  })

  await it('refuses an unknown subcommand with the usage and exit 64', async () => {
    const result = await unknownSubcommand
    assert.equal(result.status, 64)
    assert.match(result.stderr, /config check/)
  })
})
