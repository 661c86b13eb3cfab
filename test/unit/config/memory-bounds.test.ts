import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, createReadStream, mkdtempSync, openSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { ConfigError } from '../../../src/config/config-error.js'
import { loadConfig } from '../../../src/config/load-config.js'
import { createLogDestination } from '../../../src/observability/log-destination.js'
import { loggerOptions } from '../../../src/observability/logger.js'
import { HEAP_SHARE_WARNING, memoryFacts, watchMemory } from '../../../src/observability/memory.js'

const MiB = 1024 * 1024

function problemsOf (env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems]
    throw error
  }
  assert.fail('no ConfigError')
}

await describe('memory bounds', async () => {
  await describe('settings', async () => {
    await it('defaults to 128 requests and 16 MiB of bodies in flight, 4,096 connections and a 4 MiB log buffer', () => {
      const { server } = loadConfig({})
      assert.equal(server.maxInFlightRequests, 128)
      assert.equal(server.maxInFlightBodyBytes, 16 * MiB)
      assert.equal(server.maxConnections, 4096)
      assert.equal(server.logBufferBytes, 4 * MiB)
    })

    await it('reads them from the environment; 0 connections means no limit', () => {
      const { server } = loadConfig({ BROKER_MAX_IN_FLIGHT_REQUESTS: '64', BROKER_MAX_IN_FLIGHT_BODY_BYTES: '2097152', BROKER_MAX_CONNECTIONS: '0', LOG_BUFFER_MAX_BYTES: '65536' })
      assert.deepEqual([server.maxInFlightRequests, server.maxInFlightBodyBytes, server.maxConnections, server.logBufferBytes], [64, 2 * MiB, 0, 65536])
    })

    await it('refuses a limit of 0, a negative or blank one, and fewer body bytes in flight than one accepted body', () => {
      const problems = problemsOf({ BROKER_MAX_IN_FLIGHT_REQUESTS: '0', BROKER_MAX_CONNECTIONS: '-1', LOG_BUFFER_MAX_BYTES: ' ' })
      for (const env of ['BROKER_MAX_IN_FLIGHT_REQUESTS', 'BROKER_MAX_CONNECTIONS', 'LOG_BUFFER_MAX_BYTES']) {
        assert.ok(problems.some((problem) => problem.startsWith(env)), `${env} in ${problems.join('; ')}`)
      }
      const [tooSmall] = problemsOf({ BROKER_BODY_LIMIT_BYTES: '2000000', BROKER_MAX_IN_FLIGHT_BODY_BYTES: '1000000' })
      assert.match(tooSmall ?? '', /^BROKER_MAX_IN_FLIGHT_BODY_BYTES .*less than BROKER_BODY_LIMIT_BYTES \(2000000\)/)
      assert.doesNotThrow(() => loadConfig({ BROKER_BODY_LIMIT_BYTES: '2000000', BROKER_MAX_IN_FLIGHT_BODY_BYTES: '2000000' }))
    })
  })

  await describe('log destination', async () => {
    await it('drops and counts the lines past LOG_BUFFER_MAX_BYTES while nobody reads stdout, and writes every other line once it is read', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'qlik-broker-log-'))
      t.after(() => { rmSync(dir, { recursive: true, force: true }) })
      const fifo = join(dir, 'stdout')
      execFileSync('mkfifo', [fifo])
      // Read-write and non-blocking: the pipe exists with no reader draining it, like a stalled log collector.
      const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK)
      const destination = createLogDestination({ maxBufferBytes: 256 * 1024, fd })
      const logger = pino(loggerOptions('info'), destination.stream)
      const lines = 8000
      const secret = 'client-secret-must-not-appear'
      for (let index = 0; index < lines; index++) logger.info({ index, clientSecret: secret, pad: 'x'.repeat(100) }, 'line')
      const dropped = destination.droppedLines()
      // The pipe holds 64 KiB and the buffer 256 KiB; 8,000 lines of about 200 bytes are 1.6 MB.
      assert.ok(dropped > lines / 2, `most lines dropped (${dropped})`)
      assert.ok(dropped < lines, 'the lines that fit are kept')

      const registry = new Registry()
      watchMemory(registry, memoryFacts({ constrainedBytes: 0, totalBytes: 8 * 1024 * MiB, heapLimitBytes: 100 * MiB }), destination)
      assert.match(await registry.metrics(), new RegExp(`qlik_broker_log_lines_dropped_total ${dropped}\\n`))

      // The reader comes back: every line not counted as dropped arrives, whole, in order, redacted.
      const reader = createReadStream(fifo)
      let text = ''
      reader.on('data', (chunk) => { text += chunk.toString() })
      const deadline = Date.now() + 10_000
      while (text.split('\n').length - 1 < lines - dropped && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      reader.destroy()
      closeSync(fd)
      const written = text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { index: number, clientSecret: string })
      assert.equal(written.length, lines - dropped, 'each line is either written or counted')
      assert.deepEqual(written.map((line) => line.index), [...written.map((line) => line.index)].sort((a, b) => a - b))
      assert.ok(written.every((line) => line.clientSecret === '[redacted]'))
      assert.equal(text.includes(secret), false)
    })
  })

  await describe('heap sizing', async () => {
    await it('reads no container limit when the process has none (libuv answers 0, or more than the machine has)', () => {
      for (const constrainedBytes of [0, 2 ** 44]) {
        const facts = memoryFacts({ constrainedBytes, totalBytes: 16 * 1024 * MiB, heapLimitBytes: 4144 * MiB })
        assert.equal(facts.containerLimitMiB, undefined)
        assert.equal(facts.heapShareOfLimit, undefined)
        assert.equal(facts.warning, undefined)
      }
    })

    await it('is quiet with the chart\'s settings at 256 MiB (25 % old space and 3 MiB semi-spaces: a 76 MiB heap limit)', () => {
      const facts = memoryFacts({ constrainedBytes: 256 * MiB, totalBytes: 16 * 1024 * MiB, heapLimitBytes: 76 * MiB })
      assert.deepEqual(facts, { containerLimitMiB: 256, heapLimitMiB: 76, heapShareOfLimit: 0.3, warning: undefined })
    })

    await it('warns when the heap may take more than its share of the container\'s limit, e.g. NODE_OPTIONS dropped or a fixed --max-old-space-size', () => {
      const facts = memoryFacts({ constrainedBytes: 256 * MiB, totalBytes: 16 * 1024 * MiB, heapLimitBytes: 180 * MiB })
      assert.ok((facts.heapShareOfLimit ?? 0) > HEAP_SHARE_WARNING)
      assert.match(facts.warning ?? '', /180 MiB of the container's 256 MiB.*--max-old-space-size-percentage/)
    })

    await it('exports both limits as gauges', async () => {
      const registry = new Registry()
      watchMemory(registry, memoryFacts({ constrainedBytes: 256 * MiB, totalBytes: 16 * 1024 * MiB, heapLimitBytes: 79 * MiB }), undefined)
      const text = await registry.metrics()
      assert.match(text, new RegExp(`qlik_broker_memory_limit_bytes\\{kind="container"\\} ${256 * MiB}\\n`))
      assert.match(text, new RegExp(`qlik_broker_memory_limit_bytes\\{kind="heap"\\} ${79 * MiB}\\n`))
    })

    await it('takes the share of the limit from NODE_OPTIONS as the chart renders it (this Node accepts --max-old-space-size-percentage there)', () => {
      // Without a cgroup limit here, Node takes the share of the machine's memory: the flag is read, and from NODE_OPTIONS.
      const script = 'const v8 = require("node:v8"); const os = require("node:os"); process.stdout.write(JSON.stringify({ heap: v8.getHeapStatistics().heap_size_limit, total: os.totalmem(), constrained: process.constrainedMemory() }))'
      const run = (nodeOptions: string): { heap: number, total: number, constrained: number } => JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: nodeOptions }, encoding: 'utf8' })) as { heap: number, total: number, constrained: number }
      const measured = run('--max-old-space-size-percentage=30 --max-semi-space-size=1')
      const available = measured.constrained > 0 && measured.constrained < measured.total ? measured.constrained : measured.total
      const oldSpaceMiB = Math.floor(Math.floor(available / MiB) * 30 / 100)
      // heap_size_limit is the old space plus the young generation (three semi-spaces of 1 MiB).
      assert.ok(Math.abs(measured.heap / MiB - (oldSpaceMiB + 3)) <= 2, `heap limit ${measured.heap / MiB} MiB for an old space of ${oldSpaceMiB} MiB`)
      assert.equal(run('--max-old-space-size=64 --max-semi-space-size=3').heap / MiB, 76, 'what bench/memory.ts gives for the chart\'s 25 % of 256 MiB')
    })
  })
})
