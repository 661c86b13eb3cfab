import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { EXIT, runBotUsers, type CliIo } from '../../src/cli/bot-users.js'
import { TENANT_HOSTS, movable, seedTenants, startBotUserStack } from './support.js'

// `qlik-broker bot-users plan|apply` against a running broker (issue 11 §5).

function io (env: Record<string, string>): CliIo & { out: string[], err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return { out, err, stdout: (text) => { out.push(text) }, stderr: (text) => { err.push(text) }, env, fetch, sleep: async (ms) => { await new Promise((resolve) => setTimeout(resolve, ms)) }, tty: false, pollMs: 20 }
}

const root = resolve(import.meta.dirname, '../..')

async function cli (args: string[], env: Record<string, string>): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['src/cli.ts', ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}

await describe('qlik-broker bot-users', async () => {
  await it('plans without changing anything, applies with progress and a summary table, and exits 0', async (t) => {
    const stack = await startBotUserStack(t)
    const tenants = seedTenants(stack.simulator, 1)
    const env = { QB_KEY: stack.keys.admin }
    const before = tenants.map((tenant) => movable(stack.simulator, tenant.id))

    const plan = io(env)
    assert.equal(await runBotUsers(['plan', '--region', 'eu', '--broker', stack.url, ...TENANT_HOSTS.flatMap((host) => ['--tenant', host])], plan), EXIT.ok, plan.err.join(''))
    const planned = plan.out.join('')
    assert.match(planned, /plan: 15 item\(s\) on 3 tenant\(s\); nothing was changed/)
    assert.match(planned, /PUT \/api\/v1\/apps\/[^/]+\/owner/)
    assert.match(planned, /note: app objects/)
    assert.deepEqual(tenants.map((tenant) => movable(stack.simulator, tenant.id)), before)

    const apply = io(env)
    assert.equal(await runBotUsers(['apply', '--region', 'eu', '--broker', stack.url, ...TENANT_HOSTS.flatMap((host) => ['--tenant', host])], apply), EXIT.ok, apply.err.join(''))
    const output = apply.out.join('')
    assert.match(output, /\[#{30}\] 15\/15 done: 15 moved, 0 failed, 0 remaining \(finished\)/)
    assert.match(output, /tenant\s+phase\s+found\s+moved\s+failed\s+remaining/)
    assert.match(output, /total\s+15\s+15\s+0\s+0/)
    for (const tenant of tenants) assert.ok(movable(stack.simulator, tenant.id).every((item) => item.ownerId !== tenant.oldBotId))
  })

  await it('exits non-zero with the broker\'s reason when the caller may not migrate, and on usage errors', async (t) => {
    const stack = await startBotUserStack(t)
    seedTenants(stack.simulator, 1)
    const refused = io({ QB_KEY: stack.keys.creator })
    assert.equal(await runBotUsers(['apply', '--region', 'eu', '--broker', stack.url, '--tenant', TENANT_HOSTS[0]], refused), EXIT.failed)
    assert.match(refused.err.join(''), /403 QB_FORBIDDEN: no grant of caller "onlooker" allows bot-users:migrate/)

    const noKey = io({})
    assert.equal(await runBotUsers(['plan', '--region', 'eu', '--broker', stack.url], noKey), EXIT.usage)
    assert.match(noKey.err.join(''), /QB_KEY/)
    const noRegion = io({ QB_KEY: 'x' })
    assert.equal(await runBotUsers(['apply'], noRegion), EXIT.usage)
    assert.match(noRegion.err.join(''), /--region/)
    const unreachable = io({ QB_KEY: 'x' })
    assert.equal(await runBotUsers(['plan', '--region', 'eu', '--broker', 'http://127.0.0.1:1'], unreachable), EXIT.unavailable)
  })

  await it('runs as the qlik-broker binary, key from QB_KEY', async (t) => {
    const stack = await startBotUserStack(t)
    seedTenants(stack.simulator, 1, [TENANT_HOSTS[0]])
    const result = await cli(['bot-users', 'apply', '--region', 'eu', '--tenant', TENANT_HOSTS[0]], { QB_KEY: stack.keys.admin, QB_BROKER_URL: stack.url })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /total\s+5\s+5\s+0\s+0/)
    assert.ok(!result.stdout.includes(stack.keys.admin), 'the key is never printed')
  })
})
