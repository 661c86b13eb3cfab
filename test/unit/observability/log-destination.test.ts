import assert from 'node:assert/strict'
import fs, { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { pino } from 'pino'
import { createLogDestination } from '../../../src/observability/log-destination.js'
import { loggerOptions } from '../../../src/observability/logger.js'
import { waitFor } from '../../support/wait.js'

function logFile (t: TestContext): { path: string, fd: number } {
  const dir = mkdtempSync(join(tmpdir(), 'qlik-broker-log-'))
  const path = join(dir, 'stdout')
  const fd = openSync(path, 'a')
  t.after(() => {
    closeSync(fd)
    rmSync(dir, { recursive: true, force: true })
  })
  return { path, fd }
}

const indexes = (text: string): number[] => text.split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { index: number }).index)

await describe('log destination', async () => {
  await it('writes every line once, whole and in order, whether logged in one turn of the event loop or across many', async (t) => {
    const { path, fd } = logFile(t)
    const destination = createLogDestination({ maxBufferBytes: 4 * 1024 * 1024, fd })
    const logger = pino(loggerOptions('info'), destination.stream)
    let index = 0
    for (let turn = 0; turn < 200; turn++) {
      // 1 to 50 lines per turn, some with multi-byte characters, as the broker's requests log them.
      for (let line = 0; line < 1 + (turn * 7) % 50; line++) logger.info({ index: index++, tenant: turn % 3 === 0 ? 'Zürich – 東京' : 'acme' }, 'request completed')
      await nextTurn()
    }
    await waitFor('every line written', () => indexes(readFileSync(path, 'utf8')).length >= index)
    assert.deepEqual(indexes(readFileSync(path, 'utf8')), Array.from({ length: index }, (_, at) => at))
    assert.equal(destination.droppedLines(), 0)
  })

  await it('keeps lines whole and in order across its 64 KiB buffers: many in one turn, multi-byte ones at the edges, and one longer than a buffer', async (t) => {
    const { path, fd } = logFile(t)
    const destination = createLogDestination({ maxBufferBytes: 4 * 1024 * 1024, fd })
    const logger = pino(loggerOptions('info'), destination.stream)
    const sent: Array<{ index: number, text: string }> = []
    // About 1.3 MB in one turn: some twenty buffers' worth, whose ends fall on lines of three-byte characters.
    for (let index = 0; index < 3000; index++) {
      const text = index === 1500 ? '東'.repeat(70_000) : index % 2 === 0 ? '東京'.repeat(40 + index % 17) : 'x'.repeat(200 + index % 31)
      sent.push({ index, text })
      logger.info({ index, text }, 'line')
    }
    await waitFor('every line written', () => readFileSync(path, 'utf8').split('\n').length > sent.length)
    const written = readFileSync(path, 'utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { index: number, text: string })
    assert.deepEqual(written.map(({ index, text }) => ({ index, text })), sent)
    assert.equal(destination.droppedLines(), 0)
  })

  await it('drops a line whose characters fit the room left but whose UTF-8 bytes do not, and the next line is written intact', async (t) => {
    const { path, fd } = logFile(t)
    const destination = createLogDestination({ maxBufferBytes: 1000, fd })
    // 400 characters, 1,200 bytes: only encoding tells it does not fit.
    destination.stream.write(`{"text":"${'東'.repeat(400)}"}\n`)
    destination.stream.write('{"index":1}\n')
    assert.equal(destination.droppedLines(), 1)
    await waitFor('the second line written', () => readFileSync(path, 'utf8') !== '')
    assert.equal(readFileSync(path, 'utf8'), '{"index":1}\n')
  })

  await it('writes the lines of many turns within the batch window in one write, not one write per turn', async (t) => {
    const { path, fd } = logFile(t)
    let writes = 0
    const write = fs.write
    // The destination imports node:fs's write by name: syncBuiltinESMExports hands it this counting one.
    fs.write = ((...args: Parameters<typeof write>) => { writes++; return write(...args) }) as typeof write
    syncBuiltinESMExports()
    t.after(() => { fs.write = write; syncBuiltinESMExports() })
    const destination = createLogDestination({ maxBufferBytes: 1024 * 1024, fd, batchWindowMs: 200 })
    const logger = pino(loggerOptions('info'), destination.stream)
    for (let index = 0; index < 50; index++) {
      logger.info({ index }, 'request completed')
      await nextTurn()
    }
    await waitFor('every line written', () => indexes(readFileSync(path, 'utf8')).length === 50)
    assert.deepEqual(indexes(readFileSync(path, 'utf8')), Array.from({ length: 50 }, (_, at) => at))
    // 50 turns take far less than the 200 ms window, however loaded the machine: one write, two if a turn is slow.
    assert.ok(writes <= 2, `${writes} writes for 50 lines logged in 50 turns`)
  })

  await it('writes the lines still waiting at once on flushSync (the exit handler), without a turn of the event loop', (t) => {
    const { path, fd } = logFile(t)
    const destination = createLogDestination({ maxBufferBytes: 1024 * 1024, fd })
    const logger = pino(loggerOptions('info'), destination.stream)
    for (let index = 0; index < 100; index++) logger.info({ index }, 'shutting down')
    assert.equal(readFileSync(path, 'utf8'), '', 'nothing is written within the turn that logged')
    destination.stream.flushSync()
    assert.deepEqual(indexes(readFileSync(path, 'utf8')), Array.from({ length: 100 }, (_, at) => at))
  })

  await it('counts the lines a descriptor refuses for good as dropped (EBADF), and keeps taking lines without throwing', async () => {
    // Far above any descriptor this process holds.
    const destination = createLogDestination({ maxBufferBytes: 1024 * 1024, fd: 999_999 })
    const logger = pino(loggerOptions('info'), destination.stream)
    for (let index = 0; index < 10; index++) logger.info({ index }, 'line')
    await waitFor('10 lines dropped', () => destination.droppedLines() === 10)
    logger.info('and one more')
    await waitFor('the next line dropped too', () => destination.droppedLines() === 11)
  })
})
