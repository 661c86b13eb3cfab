import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { describe, it } from 'node:test'
import { freePort } from '../support/free-port.js'

const ROOT = resolve(import.meta.dirname, '../..')

/**
 * `npm run dev` as a developer types it (README "Scripts"): the demo on its
 * embedded defaults (simulator, secret files, in-process cache: no Vault, no
 * Redis, no configuration), under `tsx watch`, its logs made readable by
 * pino-pretty. The broker itself still writes JSON: `npm run demo` is the
 * same program without the pretty printer.
 */
await describe('npm run dev', async () => {
  await it('serves the demo on embedded defaults and prints readable log lines, not JSON', { timeout: 60_000 }, async (t) => {
    const port = await freePort()
    // Its own process group: npm, the shell, tsx watch, the demo and pino-pretty all stop together.
    const dev = spawn('npm', ['run', 'dev'], {
      cwd: ROOT,
      detached: true,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', BROKER_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const exited = once(dev, 'exit')
    t.after(async () => {
      if (dev.exitCode === null && dev.signalCode === null && dev.pid !== undefined) {
        process.kill(-dev.pid, 'SIGTERM')
        await exited
      }
    })
    let output = ''
    dev.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    dev.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })

    const base = `http://127.0.0.1:${port}`
    const deadline = Date.now() + 45_000
    while (!/export QB_KEY=qbk_/.test(output) || !/INFO.*Server listening/.test(output)) {
      assert.ok(dev.exitCode === null, `npm run dev exited with ${String(dev.exitCode)}:\n${output}`)
      assert.ok(Date.now() < deadline, `npm run dev printed no banner and no listening line:\n${output}`)
      await new Promise((resolve) => { dev.stdout.once('data', resolve); setTimeout(resolve, 500).unref() })
    }

    const key = /export QB_KEY=(qbk_\S+)/.exec(output)?.[1] ?? ''
    const regions = await fetch(`${base}/regions`, { headers: { authorization: `Bearer ${key}` } })
    assert.equal(regions.status, 200, 'the demo key printed in the banner works')
    await regions.body?.cancel()

    const lines = output.split('\n')
    assert.deepEqual(lines.filter((line) => /^\s*\{.*"level"/.test(line)), [], 'no log line is left as JSON')
    const logLines = lines.filter((line) => /\b(INFO|WARN|ERROR)\b/.test(line))
    assert.ok(logLines.length > 0, output)
    for (const line of logLines) {
      assert.match(line, /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] (INFO|WARN|ERROR)/, `a readable line starts with its local time and level: ${line}`)
    }
  })
})
