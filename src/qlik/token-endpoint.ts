import { z } from 'zod'
import { BrokerError } from '../http/broker-error.js'
import { seal } from '../secrets/sealed.js'
import type { RegionCredentials } from '../secrets/secrets-source.js'
import type { CachedToken } from '../tokens/token-store.js'
import { readQlikErrors } from './qlik-error-envelope.js'
import type { RateBudget } from './rate-budget.js'
import { TIER2_BUCKET } from './rate-buckets.js'
import type { UpstreamClient, UpstreamTarget } from './upstream-client.js'

const TokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i),
  expires_in: z.number().positive().optional(),
  expires_at: z.string().optional()
})

const DEACTIVATED_CODES = new Set(['TENANT_DEACTIVATED', 'TENANT_DISABLED'])

/**
 * The token endpoint refused the client on one host (400/401, or 404 for an
 * unknown host). Whether that is about the client (a rotated secret) or
 * about the host (misspelt, purged, foreign) is the caller's call.
 */
export class ClientRejectedError extends Error {
  override readonly name = 'ClientRejectedError'
  readonly host: string
  readonly status: number

  constructor (host: string, status: number) {
    super(`Qlik's token endpoint on ${host} rejected the regional client (HTTP ${status})`)
    this.host = host
    this.status = status
  }
}

export interface TokenEndpoint {
  mint (target: UpstreamTarget, credentials: RegionCredentials, requestId?: string): Promise<CachedToken>
}

/**
 * Client-credentials grant against `https://{host}/oauth/token`. Qlik
 * answers errors with its own `errors[]` envelope (reference §2.4), not
 * RFC 6749's `error` field; the broker never echoes that body.
 */
export function createTokenEndpoint (upstream: UpstreamClient, options: { scope?: string | undefined, budget?: RateBudget, now?: () => number } = {}): TokenEndpoint {
  const now = options.now ?? Date.now
  return {
    async mint (target, credentials, requestId) {
      // /oauth/token is Tier 2 on the same host: it spends the bot user's budget too.
      const reservation = await options.budget?.reserve(target.host, TIER2_BUCKET)
      if (reservation !== undefined && !reservation.granted) {
        throw new BrokerError('QB_RATE_LIMITED', `Qlik's token endpoint on ${target.host} has no budget left for now`, { headers: { 'retry-after': String(Math.max(1, Math.ceil(reservation.retryAfterMs / 1000))) } })
      }
      if (reservation !== undefined && reservation.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, reservation.delayMs))
      const body = JSON.stringify({
        grant_type: 'client_credentials',
        client_id: credentials.clientId,
        client_secret: credentials.clientSecret.reveal(),
        ...(options.scope === undefined ? {} : { scope: options.scope })
      })
      const requestedAt = now()
      const response = await upstream.send({
        target,
        method: 'POST',
        path: '/oauth/token',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(requestId === undefined ? {} : { 'x-request-id': requestId })
        },
        body
      })
      const text = await response.body.text()
      if (response.statusCode === 200) {
        let json: unknown
        try { json = JSON.parse(text) } catch {}
        const parsed = TokenResponseSchema.safeParse(json)
        if (!parsed.success) throw new BrokerError('QB_TOKEN_UNAVAILABLE', `Qlik's token endpoint on ${target.host} answered 200 without a usable token`)
        return { accessToken: seal(parsed.data.access_token), issuedAt: requestedAt, expiresAt: expiryOf(parsed.data, requestedAt) }
      }
      const { codes, traceId } = readQlikErrors(text)
      const trace = traceId === undefined ? '' : ` (Qlik traceId ${traceId})`
      if (codes.some((code) => DEACTIVATED_CODES.has(code))) {
        throw new BrokerError('QB_TENANT_DEACTIVATED', `the tenant on ${target.host} is deactivated; Qlik refuses tokens for it${trace}`)
      }
      if (response.statusCode === 401 || response.statusCode === 400 || response.statusCode === 404) throw new ClientRejectedError(target.host, response.statusCode)
      if (response.statusCode === 429) {
        const retryAfter = response.headers['retry-after']
        throw new BrokerError('QB_UPSTREAM_RATE_LIMITED', `Qlik's token endpoint on ${target.host} is rate limiting the regional client${trace}`, typeof retryAfter === 'string' ? { headers: { 'retry-after': retryAfter } } : {})
      }
      throw new BrokerError('QB_TOKEN_UNAVAILABLE', `Qlik's token endpoint on ${target.host} answered HTTP ${response.statusCode}${trace}`)
    }
  }
}

function expiryOf (token: z.output<typeof TokenResponseSchema>, requestedAt: number): number {
  // expires_in is measured from when Qlik answered; counting from when we
  // asked errs on the early side, which is the safe side.
  if (token.expires_in !== undefined) return requestedAt + token.expires_in * 1000
  const at = token.expires_at === undefined ? Number.NaN : Date.parse(token.expires_at)
  if (Number.isFinite(at)) return at
  // Qlik documents 6 h tokens; without a stated expiry assume much less.
  return requestedAt + 60 * 60 * 1000
}
