import { Agent, errors as undiciErrors, type Dispatcher } from 'undici'
import { BrokerError } from '../http/broker-error.js'

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
  body: Dispatcher.ResponseData['body']
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
      try {
        const response = await dispatcher.request({
          origin: target.origin ?? `https://${target.host}`,
          method: request.method,
          path: request.path,
          headers,
          body: request.body ?? null
        })
        return { statusCode: response.statusCode, headers: response.headers, body: response.body }
      } catch (error) {
        throw toBrokerError(error, target.host)
      }
    },
    async close () {
      if (options.dispatcher === undefined) await dispatcher.close()
    }
  }
}

function toBrokerError (error: unknown, host: string): BrokerError {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return new BrokerError('QB_UPSTREAM_TIMEOUT', `Qlik (${host}) did not answer in time; the request may have been carried out`, { cause: error })
  }
  const code = (error as { code?: string }).code ?? 'error'
  return new BrokerError('QB_UPSTREAM_UNREACHABLE', `Qlik (${host}) could not be reached (${code})`, { cause: error })
}
