import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, it } from 'node:test'

// The server entry point in a real process: its exit code and stderr are what
// an operator sees. (Moved from test/unit/config/load-config.test.ts: it starts
// a process, so it is not a unit test.)
const REPO = resolve(import.meta.dirname, '../..')

type Env = Record<string, string | undefined>

await describe('server entry point with a bad environment', async () => {
  await it('exits 78 listing every problem on stderr when the environment cannot run', async () => {
    const env: Env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      BROKER_PORT: 'abc',
      SECRETS_SOURCE: 'vault',
      VAULT_AUTH_METHOD: 'approle',
      REDIS_URL: 'redis://127.0.0.1:1'
    }
    const child = spawn(resolve(REPO, 'node_modules/.bin/tsx'), ['src/server.ts'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let stdout = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
    const code = await new Promise<number | null>((resolve) => { child.once('exit', (exitCode) => { resolve(exitCode) }) })
    clearTimeout(timer)
    assert.equal(code, 78, `stderr:\n${stderr}\nstdout:\n${stdout}`)
    assert.match(stderr, /qlik-broker: invalid configuration:/)
    for (const name of ['BROKER_PORT', 'VAULT_ROLE_ID', 'VAULT_SECRET_ID', 'CACHE_ENCRYPTION_KEYS']) {
      assert.match(stderr, new RegExp(`^ {2}- ${name} \\(`, 'm'), `${name} is listed`)
    }
  })
})
