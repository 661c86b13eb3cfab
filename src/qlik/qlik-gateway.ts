import type { Dispatcher } from 'undici'
import type { RegionConfig } from '../config/load-config.js'
import { BrokerError } from '../http/broker-error.js'
import type { Logger } from '../observability/logger.js'
import type { TokenProvider } from '../tokens/token-provider.js'
import { isHostUnwellStatus, type CircuitBreaker } from './circuit-breaker.js'
import { readQlikErrors } from './qlik-error-envelope.js'
import type { RateBudget } from './rate-budget.js'
import type { BucketTable } from './rate-buckets.js'
import { mayRetry, parseRetryAfter, retryDelayMs, type RetryPolicy } from './retry-policy.js'
import type { UpstreamClient, UpstreamResponse } from './upstream-client.js'

export interface ForwardRequest {
  region: RegionConfig
  /** The Qlik host the call is for; its token is minted on that same host. */
  host: string
  method: Dispatcher.HttpMethod
  path: string
  headers: Record<string, string>
  body?: Buffer | string | undefined
  requestId: string
}

export interface QlikGateway {
  /**
   * Sends a request to Qlik with a token for its host, within the host's
   * share of Qlik's rate budget and its circuit breaker. A 401 means Qlik no
   * longer accepts that token (and did not act): it is dropped, a new one is
   * minted and the request sent once more. 429s and transient failures are
   * retried with back-off only where a retry cannot act twice.
   */
  forward (request: ForwardRequest): Promise<UpstreamResponse>
}

export interface GatewayOptions {
  upstream: UpstreamClient
  tokens: TokenProvider
  budget: RateBudget
  /** Which of Qlik's rate-limit buckets a request is counted in. */
  buckets: BucketTable
  breaker: CircuitBreaker
  retry: RetryPolicy
  logger: Logger
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

const defaultSleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export function createQlikGateway (options: GatewayOptions): QlikGateway {
  const { upstream, tokens, logger, budget, buckets, breaker, retry } = options
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? defaultSleep

  /** Waits for this host's share of Qlik's budget, or refuses with 429 when the wait would be too long. */
  async function spendBudget (host: string, bucket: string): Promise<void> {
    const reservation = await budget.reserve(host, bucket)
    if (!reservation.granted) {
      throw new BrokerError('QB_RATE_LIMITED', `Qlik allows the regional client a limited rate on ${host}; the next slot is ${Math.ceil(reservation.retryAfterMs / 1000)} s away`, {
        headers: { 'retry-after': String(Math.max(1, Math.ceil(reservation.retryAfterMs / 1000))) }
      })
    }
    if (reservation.delayMs > 0) await sleep(reservation.delayMs)
  }

  async function forward (request: ForwardRequest): Promise<UpstreamResponse> {
    const target = { host: request.host, origin: request.region.upstreamOrigin }
    const bucket = buckets.bucketOf(request.method, request.path)
    let reminted = false
    for (let attempt = 1; ; attempt++) {
      breaker.admit(request.host)
      const lease = await tokens.get(request.region, request.host, request.requestId)
      // The slot is taken right before sending: waiting for a mint after it would bunch requests up.
      await spendBudget(request.host, bucket)
      let response: UpstreamResponse
      try {
        response = await upstream.send({
          target,
          method: request.method,
          path: request.path,
          headers: { ...request.headers, authorization: `Bearer ${lease.accessToken.reveal()}` },
          body: request.body
        })
      } catch (error) {
        breaker.failed(request.host, request.requestId)
        const errorCode = ((error as { cause?: { code?: string } }).cause?.code) ?? 'error'
        if (attempt >= retry.maxAttempts || !mayRetry(request.method, { errorCode })) throw error
        logger.info({ region: request.region.code, host: request.host, attempt, errorCode }, 'Qlik could not be reached; retrying')
        await sleep(retryDelayMs(retry, attempt, undefined))
        continue
      }

      const status = response.statusCode
      if (isHostUnwellStatus(status)) breaker.failed(request.host, request.requestId)
      else breaker.succeeded(request.host)

      if (status === 401 && !reminted) {
        const text = await response.body.text()
        const { codes } = readQlikErrors(text)
        if (codes.includes('TENANT_DEACTIVATED') || codes.includes('TENANT_DISABLED')) {
          throw new BrokerError('QB_TENANT_DEACTIVATED', `the tenant on ${request.host} is deactivated`)
        }
        logger.info({ region: request.region.code, host: request.host }, 'Qlik refused a cached token (401); minting a new one and retrying once')
        await tokens.invalidate(lease)
        reminted = true
        attempt--
        continue
      }

      const retryAfterMs = status === 429 ? parseRetryAfter(response.headers['retry-after'], now()) ?? 1000 : undefined
      if (retryAfterMs !== undefined) await budget.pause(request.host, bucket, retryAfterMs)
      const retryable = (status === 429 || status === 502 || status === 503 || status === 504) && mayRetry(request.method, { status })
      if (!retryable || attempt >= retry.maxAttempts || (retryAfterMs ?? 0) > retry.maxRetryAfterMs) return response
      await response.body.dump()
      logger.info({ region: request.region.code, host: request.host, attempt, status }, 'Qlik answered a transient error; retrying')
      // A 429 already paused the budget for Retry-After; other errors back off with jitter.
      if (retryAfterMs === undefined) await sleep(retryDelayMs(retry, attempt, undefined))
    }
  }

  return {
    forward
  }
}
