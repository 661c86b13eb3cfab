import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'

/** Read ahead of any reader before the connection is paused: a small answer arrives whole, a large one waits for its reader. */
const READ_AHEAD_BYTES = 64 * 1024
/** `dump()` reads at most this much of a body it throws away; past it the connection is closed instead (undici's own dump does the same). */
const DUMP_LIMIT_BYTES = 128 * 1024

/**
 * Qlik's answer body as it arrives from undici's dispatch handler: read
 * whole (`bytes()`, `text()`), thrown away (`dump()`) or streamed on
 * (`stream()`), once. It replaces undici's `request()` body, a Readable
 * stream with its own promise per read: most answers are a few hundred bytes
 * in one chunk, and the stream machinery around that chunk cost more than
 * the chunk (docs/benchmarks.md, round 5). Until a reader comes, up to
 * READ_AHEAD_BYTES are kept and the connection is paused past them.
 */
export class UpstreamBody {
  readonly #controller: Dispatcher.DispatchController
  #chunks: Buffer[] = []
  #size = 0
  #state: 'open' | 'ended' | 'failed' = 'open'
  #error: Error | undefined
  #reader: { resolve: (bytes: Buffer) => void, reject: (error: Error) => void } | undefined
  #stream: Readable | undefined
  #dumping: { resolve: () => void, discarded: number } | undefined
  #claimed = false

  constructor (controller: Dispatcher.DispatchController) {
    this.#controller = controller
  }

  /** The whole body. Rejects with undici's error when the body stalls or the connection breaks. */
  async bytes (): Promise<Buffer> {
    this.#claim()
    if (this.#state === 'ended') return this.#joined()
    if (this.#state === 'failed') throw this.#error ?? new Error('the answer body failed')
    return await new Promise<Buffer>((resolve, reject) => {
      this.#reader = { resolve, reject }
      this.#controller.resume()
    })
  }

  async text (): Promise<string> {
    return (await this.bytes()).toString('utf8')
  }

  /** Reads the rest and throws it away, so the connection can serve the next request; a large rest closes it instead. */
  async dump (): Promise<void> {
    this.#claim()
    this.#chunks = []
    if (this.#state !== 'open') return
    await new Promise<void>((resolve) => {
      this.#dumping = { resolve, discarded: this.#size }
      if (this.#size > DUMP_LIMIT_BYTES) this.#abort()
      else this.#controller.resume()
    })
  }

  /** The body as a stream, with backpressure down to Qlik's connection; destroying it closes that connection. */
  stream (): Readable {
    this.#claim()
    const controller = this.#controller
    const body = this
    const stream = new Readable({
      read () { controller.resume() },
      destroy (error, callback) {
        if (body.#state === 'open') controller.abort(error ?? new Error('the answer was no longer wanted'))
        callback(error)
      }
    })
    this.#stream = stream
    for (const chunk of this.#chunks) stream.push(chunk)
    this.#chunks = []
    if (this.#state === 'ended') stream.push(null)
    else if (this.#state === 'failed') stream.destroy(this.#error)
    return stream
  }

  /** @internal From the dispatch handler. */
  received (chunk: Buffer): void {
    if (this.#dumping !== undefined) {
      this.#dumping.discarded += chunk.length
      if (this.#dumping.discarded > DUMP_LIMIT_BYTES) this.#abort()
      return
    }
    if (this.#stream !== undefined) {
      if (!this.#stream.push(chunk)) this.#controller.pause()
      return
    }
    this.#chunks.push(chunk)
    this.#size += chunk.length
    if (this.#reader === undefined && this.#size >= READ_AHEAD_BYTES) this.#controller.pause()
  }

  /** @internal From the dispatch handler. */
  ended (): void {
    this.#state = 'ended'
    this.#dumping?.resolve()
    this.#stream?.push(null)
    this.#reader?.resolve(this.#joined())
  }

  /** @internal From the dispatch handler. */
  failed (error: Error): void {
    if (this.#state !== 'open') return
    this.#state = 'failed'
    this.#error = error
    this.#chunks = []
    // A body being thrown away may break: nothing was waiting for its bytes.
    this.#dumping?.resolve()
    this.#stream?.destroy(error)
    this.#reader?.reject(error)
  }

  #joined (): Buffer {
    const chunks = this.#chunks
    this.#chunks = []
    return chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, this.#size)
  }

  #claim (): void {
    if (this.#claimed) throw new Error('the answer body was already read')
    this.#claimed = true
  }

  #abort (): void {
    this.#state = 'ended'
    this.#controller.abort(new Error('the rest of the answer was not wanted'))
    this.#dumping?.resolve()
  }
}
