import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'

const root = resolve(import.meta.dirname, '../..')
const tsx = join(root, 'node_modules', '.bin', 'tsx')
const workDir = mkdtempSync(join(tmpdir(), 'qb-config-check-'))
after(() => rmSync(workDir, { recursive: true, force: true }))

function configCheck (env: Record<string, string>): { status: number | null, stdout: string, stderr: string } {
  const result = spawnSync(tsx, ['src/cli.ts', 'config', 'check'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    encoding: 'utf8'
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

await describe('qlik-broker config check', async () => {
  await it('exits 0 with a summary when the environment and file are valid', () => {
    const file = join(workDir, 'ok.yaml')
    writeFileSync(file, 'callers:\n  - name: billing\n    apiKeyHashes: ["sha256:' + 'a'.repeat(64) + '"]\n    grants:\n      - regions: [eu]\n        actions: [tenants:read]\n')
    const result = configCheck({ SECRETS_SOURCE: 'file', SECRETS_DIR: workDir, QLIK_REGIONS: 'eu,us', BROKER_CONFIG_FILE: file })
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /configuration OK: regions eu, us; secrets from file; token cache in-process; 1 caller\(s\), 0 JWT issuer\(s\)/)
  })

  await it('exits 78 and lists every problem of the environment and the file at once', () => {
    const file = join(workDir, 'bad.yaml')
    writeFileSync(file, 'callers:\n  - name: billing\n    grants:\n      - regions: [mars]\n        actions: [tenants:read]\n')
    const result = configCheck({ BROKER_PORT: 'eighty', REDIS_URL: 'redis://127.0.0.1:6379', BROKER_CONFIG_FILE: file })
    assert.equal(result.status, 78)
    assert.equal(result.stdout, '')
    assert.match(result.stderr, /BROKER_PORT/)
    assert.match(result.stderr, /CACHE_ENCRYPTION_KEYS/)
    assert.match(result.stderr, /region "mars" is not configured/)
  })

  await it('refuses an unknown subcommand with the usage and exit 64', () => {
    const result = spawnSync(tsx, ['src/cli.ts', 'config', 'lint'], { cwd: root, encoding: 'utf8' })
    assert.equal(result.status, 64)
    assert.match(result.stderr, /config check/)
  })
})
