import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { freePort } from '../support/free-port.js'

const run = promisify(execFile)

await describe('npm run demo', async () => {
  await it('prints a key and curl lines that create a tenant and list its users, working as printed', async (t) => {
    const port = await freePort()
    const demo = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { env: { ...process.env, BROKER_PORT: String(port), LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
    t.after(() => { demo.kill('SIGKILL') })
    let output = ''
    demo.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const deadline = Date.now() + 20_000
    while (!output.includes('Ctrl-C stops it.')) {
      assert.ok(Date.now() < deadline, `the demo did not start:\n${output}`)
      assert.equal(demo.exitCode, null, `the demo exited early:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const commands = output.split('\n').map((line) => line.trim()).filter((line) => /^(export |TENANT_ID=|curl )/.test(line))
    assert.equal(commands.length, 4, output)
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', commands.join('\n')], { timeout: 20_000 })
    assert.match(stdout, /"subject":"qlikbot\\\\demo-eu-client"/, 'the users list holds the regional client\'s bot user')
    assert.match(stdout, /"code":"eu"/, 'the regions listing answered')

    demo.kill('SIGTERM')
    const [code] = await once(demo, 'exit') as [number | null]
    assert.equal(code, 0, 'SIGTERM drains and exits cleanly')
  })
})
