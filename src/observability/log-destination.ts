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
/** Lines are encoded into buffers of this size, each reused while the log keeps up. */
const CHUNK_BYTES = 64 * 1024
/** UTF-8 needs at most three bytes per UTF-16 code unit (four for a surrogate pair, which is two units). */
const MAX_UTF8_BYTES_PER_CODE_UNIT = 3
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
 * Encoded once: a line goes into a 64 KiB buffer as UTF-8 the moment pino
 * hands it over, and a batch is a slice of that buffer. Measuring each line
 * (`Buffer.byteLength`), joining a batch and encoding the join cost more
 * than pino's serialisation of the two lines per request
 * (docs/benchmarks.md, "Round 6"). The buffer is used again from its start
 * whenever everything in it has been written; what the destination holds is
 * the bound's bytes plus the 64 KiB being filled, and in each buffer set
 * aside the room left unused at its end (less than three times the length of
 * the line that did not fit there).
 *
 * Why not pino's own destination (sonic-boom, `sync: false`): for each line
 * it measures the bytes of everything already waiting, and copies each
 * written batch once more after the write (docs/benchmarks.md, "Round 3").
 *
 * `flushSync` (called on exit) writes the lines still waiting, synchronously;
 * a write already in flight is left to finish on its own, as sonic-boom does.
 */
export function createLogDestination (options: { maxBufferBytes: number, fd?: number, batchWindowMs?: number }): LogDestination {
  const fd = options.fd ?? 1
  const { maxBufferBytes } = options
  const batchWindowMs = options.batchWindowMs ?? BATCH_WINDOW_MS
  /** The buffer lines are encoded into: bytes [batchStart, used) of it wait, after the `setAside` ones. */
  let chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES)
  let used = 0
  let batchStart = 0
  /** Waiting bytes of earlier buffers (and of lines too long for one), in order. */
  let setAside: Buffer[] = []
  let waitingBytes = 0
  let waitingLines = 0
  /** Bytes of the lines waiting and of the write in flight. */
  let heldBytes = 0
  let writing = false
  let dropped = 0

  /** Moves the bytes waiting in the current buffer to the set-aside list, before anything is placed after them elsewhere. */
  function setAsideCurrent (): void {
    if (used > batchStart) setAside.push(chunk.subarray(batchStart, used))
    batchStart = used
  }

  /** The lines waiting, as one buffer; the lines that follow are encoded after them. */
  function take (): { batch: Buffer, lines: number } {
    setAsideCurrent()
    const batch = setAside.length === 1 ? setAside[0] ?? Buffer.alloc(0) : Buffer.concat(setAside)
    const lines = waitingLines
    setAside = []
    waitingBytes = 0
    waitingLines = 0
    return { batch, lines }
  }

  /** The next write, once the lines that follow within the window (0: this turn) have joined the batch. */
  function scheduleWrite (): void {
    if (batchWindowMs === 0 || waitingBytes >= FULL_BATCH_BYTES) setImmediate(writeNext)
    else setTimeout(writeNext, batchWindowMs)
  }

  function writeNext (): void {
    if (waitingLines === 0) {
      idle()
      return
    }
    const { batch, lines } = take()
    writeOut(batch, lines)
  }

  /** Nothing waits and nothing is in flight: the buffer is free again from its start. */
  function idle (): void {
    writing = false
    used = 0
    batchStart = 0
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
      if (waitingLines === 0) idle()
      else scheduleWrite()
    })
  }

  /** Encodes a line after the ones waiting: its length in bytes, or undefined (nothing kept) when it would pass the bound. */
  function append (line: string): number | undefined {
    const room = maxBufferBytes - heldBytes
    const mostBytes = line.length * MAX_UTF8_BYTES_PER_CODE_UNIT
    if (mostBytes > CHUNK_BYTES) {
      const encoded = Buffer.from(line)
      if (encoded.length > room) return undefined
      setAsideCurrent()
      setAside.push(encoded)
      return encoded.length
    }
    if (mostBytes > CHUNK_BYTES - used) {
      setAsideCurrent()
      // The full buffer is still referenced by the lines set aside (or the write in flight) until they are written.
      chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES)
      used = 0
      batchStart = 0
    }
    const bytes = chunk.write(line, used)
    // Past the bound the bytes just encoded stay unclaimed: the next line is encoded over them.
    if (bytes > room) return undefined
    used += bytes
    return bytes
  }

  const stream = {
    write (line: string): void {
      // A line with more characters than the room left has at least as many bytes: dropped without encoding it.
      const bytes = line.length > maxBufferBytes - heldBytes ? undefined : append(line)
      if (bytes === undefined) {
        dropped++
        return
      }
      waitingBytes += bytes
      waitingLines++
      heldBytes += bytes
      if (!writing) {
        writing = true
        scheduleWrite()
      }
    },
    flushSync (): void {
      if (waitingLines === 0) return
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
