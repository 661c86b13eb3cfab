import { Agent, errors as undiciErrors, type Dispatcher } from 'undici'
import { BrokerError } from '../http/broker-error.js'
import { UpstreamBody } from './upstream-body.js'

export interface UpstreamTarget {
  /** The Qlik host the request is for (and the Host header). */
  host: string
  /** Where the connection goes; unset means `https://${host}`. */
  origin: string | undefined
}

export interface UpstreamRequest {
  target: UpstreamTarget
  method: Dispatcher.HttpMethod
  /** Path and query, starting with `/`. */
  path: string
  headers: Record<string, string>
  body?: Buffer | string | undefined
}

export interface UpstreamResponse {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  /** To be read, dumped or streamed once: the connection to Qlik waits for it. */
  body: UpstreamBody
}

export interface UpstreamClient {
  send (request: UpstreamRequest): Promise<UpstreamResponse>
  close (): Promise<void>
}

export interface UpstreamClientOptions {
  timeoutMs: number
  connectTimeoutMs: number
  /** Dispatcher to use instead of a new keep-alive Agent (tests, proxies). */
  dispatcher?: Dispatcher
}

/**
 * One keep-alive pool per Qlik origin (undici's Agent keeps a Pool per
 * origin). Failures before an answer become BrokerErrors; whether a request
 * may have reached Qlik matters to retries, so it is recorded on the error.
 */
export function createUpstreamClient (options: UpstreamClientOptions): UpstreamClient {
  const dispatcher = options.dispatcher ?? new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connections: 256,
    pipelining: 1,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connect: { timeout: options.connectTimeoutMs }
  })

  return {
    async send (request) {
      const { target } = request
      const headers = target.origin === undefined ? request.headers : { ...request.headers, host: target.host }
      return await new Promise<UpstreamResponse>((resolve, reject) => {
        try {
          dispatcher.dispatch({
            origin: target.origin ?? `https://${target.host}`,
            method: request.method,
            path: request.path,
            headers,
            body: request.body ?? null
          }, new AnswerReader(target.host, resolve, reject))
        } catch (error) {
          // undici's own dispatchers hand their refusals to the handler; a given dispatcher may throw them instead.
          reject(toBrokerError(error, target.host))
        }
      })
    },
    async close () {
      if (options.dispatcher === undefined) await dispatcher.close()
    }
  }
}

/**
 * undici's dispatch handler for one request: settles with Qlik's status and
 * headers as they arrive, then feeds the body to its UpstreamBody. (What
 * undici's `request()` does, without a stream and an abort signal per
 * request: docs/benchmarks.md, round 5.)
 */
class AnswerReader implements Dispatcher.DispatchHandler {
  readonly #host: string
  readonly #resolve: (response: UpstreamResponse) => void
  readonly #reject: (error: BrokerError) => void
  #body: UpstreamBody | undefined

  constructor (host: string, resolve: (response: UpstreamResponse) => void, reject: (error: BrokerError) => void) {
    this.#host = host
    this.#resolve = resolve
    this.#reject = reject
  }

  /** Its presence tells undici this is a handler of its current interface (controller first), not the legacy one. */
  onRequestStart (): void {}

  onResponseStart (controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx are interim answers; the final one follows on the same request.
    if (statusCode < 200) return
    this.#body = new UpstreamBody(controller)
    this.#resolve({ statusCode, headers, body: this.#body })
  }

  onResponseData (_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#body?.received(chunk)
  }

  onResponseEnd (): void {
    this.#body?.ended()
  }

  onResponseError (_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.#body === undefined) this.#reject(toBrokerError(error, this.#host))
    else this.#body.failed(error)
  }
}

function toBrokerError (error: unknown, host: string): BrokerError {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return new BrokerError('QB_UPSTREAM_TIMEOUT', `Qlik (${host}) did not answer in time; the request may have been carried out`, { cause: error })
  }
  const code = (error as { code?: string }).code ?? 'error'
  return new BrokerError('QB_UPSTREAM_UNREACHABLE', `Qlik (${host}) could not be reached (${code})`, { cause: error })
}
