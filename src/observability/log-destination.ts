import { write, writeSync } from 'node:fs'

export interface LogDestination {
  /** What pino writes its lines to. */
  stream: { write: (line: string) => void, flushSync: () => void }
  /** Lines dropped so far because LOG_BUFFER_MAX_BYTES were waiting for the reader (or the descriptor refused them). */
  droppedLines: () => number
}

/**
 * Lines wait this long for the ones that follow before they are written: a
 * write costs a system call and a hand-off to libuv's thread pool whatever
 * its size, so under load one write per millisecond instead of one per turn
 * of the event loop saves most of that (docs/benchmarks.md, "Round 4").
 */
const BATCH_WINDOW_MS = 1
/** Lines waiting past this many bytes go out at the next turn, without waiting for the window. */
const FULL_BATCH_BYTES = 64 * 1024
/** How long a write the reader could not take yet (EAGAIN on a full pipe) waits before it is tried again. */
const RETRY_AFTER_MS = 20
/** On exit, a stalled reader is waited for this many times RETRY_AFTER_MS (one second) before the last lines are given up. */
const SYNC_RETRIES = 50
/** Something to block on while a synchronous write waits for the reader (Atomics.wait on a value that never changes). */
const PAUSE = new Int32Array(new SharedArrayBuffer(4))

/**
 * Log lines to a file descriptor (stdout by default), written asynchronously
 * and in batches.
 *
 * Asynchronously: a synchronous write blocks the event loop whenever the
 * reader (container runtime, file system) is slow, which showed in the p99
 * at 1,000 req/s (docs/benchmarks.md). One write is in flight at a time, on
 * libuv's thread pool; the lines logged meanwhile, and all the lines logged
 * within `batchWindowMs` (1 ms) of the first one waiting, go out together in
 * the next write, in order.
 *
 * Bounded: when the reader falls behind by `maxBufferBytes` (the lines
 * waiting plus the write in flight), new lines are dropped and counted
 * instead of held, so a stalled log pipeline cannot grow the heap until the
 * container is OOM-killed. A dropped line is only counted, never looked at.
 *
 * Why not pino's own destination (sonic-boom, `sync: false`): for each line
 * it measures the bytes of everything already waiting
 * (`Buffer.byteLength` of a string built by appending, which V8 must
 * flatten first), and copies each written batch once more after the write;
 * at the broker's two lines per request that cost about a fifth of its CPU
 * per request (docs/benchmarks.md, "Issue 13"). Here a line's bytes are
 * counted once, and a batch is joined and encoded once.
 *
 * `flushSync` (called on exit) writes the lines still waiting, synchronously;
 * a write already in flight is left to finish on its own, as sonic-boom does.
 */
export function createLogDestination (options: { maxBufferBytes: number, fd?: number, batchWindowMs?: number }): LogDestination {
  const fd = options.fd ?? 1
  const { maxBufferBytes } = options
  const batchWindowMs = options.batchWindowMs ?? BATCH_WINDOW_MS
  let waiting: string[] = []
  let waitingBytes = 0
  /** Bytes of the lines waiting and of the write in flight. */
  let heldBytes = 0
  let writing = false
  let dropped = 0

  /** The lines waiting, joined and encoded once; pino writes one line per call. */
  function take (): { batch: Buffer, lines: number } {
    const lines = waiting.length
    const batch = Buffer.from(lines === 1 ? waiting[0] ?? '' : waiting.join(''))
    waiting = []
    waitingBytes = 0
    return { batch, lines }
  }

  /** The next write, once the lines that follow within the window (0: this turn) have joined the batch. */
  function scheduleWrite (): void {
    if (batchWindowMs === 0 || waitingBytes >= FULL_BATCH_BYTES) setImmediate(writeNext)
    else setTimeout(writeNext, batchWindowMs)
  }

  function writeNext (): void {
    if (waiting.length === 0) {
      writing = false
      return
    }
    const { batch, lines } = take()
    writeOut(batch, lines)
  }

  function writeOut (batch: Buffer, lines: number): void {
    write(fd, batch, 0, batch.length, null, (error, written) => {
      if (error !== null) {
        if (error.code === 'EAGAIN' || error.code === 'EBUSY') {
          setTimeout(() => { writeOut(batch, lines) }, RETRY_AFTER_MS).unref()
          return
        }
        // The descriptor refuses lines for good (reader gone, closed): they are lost, and counted as such.
        dropped += lines
        heldBytes -= batch.length
        writeNext()
        return
      }
      heldBytes -= written
      if (written < batch.length) {
        const rest = batch.subarray(written)
        writeOut(rest, countLines(rest))
        return
      }
      if (waiting.length === 0) writing = false
      else scheduleWrite()
    })
  }

  const stream = {
    write (line: string): void {
      const bytes = Buffer.byteLength(line)
      if (heldBytes + bytes > maxBufferBytes) {
        dropped++
        return
      }
      waiting.push(line)
      waitingBytes += bytes
      heldBytes += bytes
      if (!writing) {
        writing = true
        scheduleWrite()
      }
    },
    flushSync (): void {
      if (waiting.length === 0) return
      const { batch } = take()
      let offset = 0
      for (let retries = 0; offset < batch.length;) {
        try {
          offset += writeSync(fd, batch, offset)
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code
          if ((code === 'EAGAIN' || code === 'EBUSY') && retries++ < SYNC_RETRIES) {
            Atomics.wait(PAUSE, 0, 0, RETRY_AFTER_MS)
            continue
          }
          dropped += countLines(batch.subarray(offset))
          break
        }
      }
      heldBytes -= batch.length
    }
  }
  return { stream, droppedLines: () => dropped }
}

const NEWLINE = 0x0a

function countLines (batch: Buffer): number {
  let lines = 0
  for (let index = batch.indexOf(NEWLINE); index !== -1; index = batch.indexOf(NEWLINE, index + 1)) lines++
  return lines
}
