import type { RegionConfig } from '../config/load-config.js'
import { BrokerError } from '../http/broker-error.js'
import type { Logger } from '../observability/logger.js'
import { ClientRejectedError, type TokenEndpoint } from '../qlik/token-endpoint.js'
import type { UpstreamTarget } from '../qlik/upstream-client.js'
import type { RegionCredentials, SecretsSource } from '../secrets/secrets-source.js'
import { SecretsUnavailableError } from '../secrets/secrets-source.js'
import type { Sealed } from '../secrets/sealed.js'
import { createSingleFlight } from './single-flight.js'
import type { CachedToken, TokenStore } from './token-store.js'

export interface TokenLease {
  accessToken: Sealed
  expiresAt: number
  cacheKey: string
}

export type CredentialStatus = 'unknown' | 'ok' | 'rejected' | 'unavailable'

export interface RegionCredentialState {
  status: CredentialStatus
  since: number | undefined
  /** While rejected: when minting for the region is tried again. */
  retryAt: number | undefined
  detail: string | undefined
}

export interface TokenProvider {
  /** A token valid for at least the expiry margin, for `host` in `region`. */
  get (region: RegionConfig, host: string, requestId?: string): Promise<TokenLease>
  /** Qlik answered 401 with this token: forget it (only if still cached) so the next get mints. */
  invalidate (lease: TokenLease): Promise<void>
  credentialState (region: string): RegionCredentialState
}

export interface TokenProviderOptions {
  secrets: SecretsSource
  store: TokenStore
  endpoint: TokenEndpoint
  /** Tokens are dropped this long before Qlik's expiry. */
  expiryMarginMs: number
  logger: Logger
  now?: () => number
  /** Bound on in-process entries; old keys (rotated secrets, idle tenants) fall out first. */
  maxLocalEntries?: number
  /** First back-off after the client was rejected; doubles up to 5 minutes. */
  rejectedBackoffMs?: number
}

const MAX_REJECTED_BACKOFF_MS = 5 * 60_000

/**
 * Tokens per (region, host, client id, secret version): first the
 * in-process cache (no I/O on the hot path), then the shared store, then one
 * mint per key per process. A store outage degrades to process-local caching;
 * it never fails a request that Qlik could serve.
 */
export function createTokenProvider (options: TokenProviderOptions): TokenProvider {
  const { secrets, store, endpoint, logger } = options
  const now = options.now ?? Date.now
  const maxLocalEntries = options.maxLocalEntries ?? 10_000
  const local = new Map<string, CachedToken>()
  const singleFlight = createSingleFlight<CachedToken>()
  const states = new Map<string, RegionCredentialState & { rejectedVersion?: string, backoffMs: number }>()

  const usable = (token: CachedToken | undefined): token is CachedToken => token !== undefined && token.expiresAt - options.expiryMarginMs > now()

  function remember (key: string, token: CachedToken): void {
    local.delete(key)
    local.set(key, token)
    if (local.size > maxLocalEntries) {
      const oldest = local.keys().next().value
      if (oldest !== undefined) local.delete(oldest)
    }
  }

  function setState (region: string, status: CredentialStatus, detail?: string, retryAt?: number, rejectedVersion?: string): void {
    const previous = states.get(region)
    const backoffMs = status === 'rejected' ? Math.min((previous?.status === 'rejected' ? previous.backoffMs * 2 : options.rejectedBackoffMs ?? 30_000), MAX_REJECTED_BACKOFF_MS) : 0
    states.set(region, {
      status,
      since: previous?.status === status ? previous.since : now(),
      retryAt: status === 'rejected' ? (retryAt ?? now() + backoffMs) : undefined,
      detail,
      backoffMs,
      ...(rejectedVersion === undefined ? {} : { rejectedVersion })
    })
    if (previous?.status !== status) {
      const log = status === 'ok' ? logger.info.bind(logger) : logger.warn.bind(logger)
      log({ region, credentialStatus: status, detail }, `regional client credentials: ${status}`)
    }
  }

  async function credentialsFor (region: string): Promise<RegionCredentials> {
    try {
      return await secrets.get(region)
    } catch (error) {
      const reason = error instanceof SecretsUnavailableError ? error.message : 'the secrets source failed'
      setState(region, 'unavailable', reason)
      throw new BrokerError('QB_CREDENTIALS_UNAVAILABLE', `credentials for region "${region}" are unavailable`, { cause: error })
    }
  }

  function cacheKey (region: string, host: string, credentials: RegionCredentials): string {
    return `${region}:${host}:${credentials.clientId}:${credentials.version}`
  }

  async function fromStore (key: string): Promise<CachedToken | undefined> {
    try {
      const token = await store.get(key)
      return usable(token) ? token : undefined
    } catch (error) {
      logger.warn({ err: (error as Error).message, store: store.kind }, 'token store unavailable; using the in-process cache')
      return undefined
    }
  }

  async function toStore (key: string, token: CachedToken): Promise<void> {
    try {
      await store.set(key, token, token.expiresAt - options.expiryMarginMs - now())
    } catch (error) {
      logger.warn({ err: (error as Error).message, store: store.kind }, 'token store unavailable; token kept in process only')
    }
  }

  async function mint (region: RegionConfig, target: UpstreamTarget, credentials: RegionCredentials, requestId: string | undefined): Promise<{ token: CachedToken, key: string }> {
    const state = states.get(region.code)
    if (state?.status === 'rejected' && state.rejectedVersion === credentials.version && (state.retryAt ?? 0) > now()) {
      throw new BrokerError('QB_CREDENTIALS_REJECTED', `Qlik rejects the regional client of "${region.code}"; minting paused until ${new Date(state.retryAt ?? 0).toISOString()} (a new secret in the secrets store is picked up at once)`,
        { headers: { 'retry-after': String(Math.ceil(((state.retryAt ?? 0) - now()) / 1000)) } })
    }
    try {
      const token = await endpoint.mint(target, credentials, requestId)
      setState(region.code, 'ok')
      logger.info({ region: region.code, host: target.host, expiresAt: new Date(token.expiresAt).toISOString() }, 'minted access token')
      return { token, key: cacheKey(region.code, target.host, credentials) }
    } catch (error) {
      if (!(error instanceof ClientRejectedError)) throw error
      // The secret may have been rotated in My Qlik and in the store: read it again once.
      let fresh: RegionCredentials
      try {
        fresh = await secrets.refresh(region.code)
      } catch {
        fresh = credentials
      }
      if (fresh.version !== credentials.version) {
        logger.info({ region: region.code, version: fresh.version }, 'Qlik rejected the client; a new secret version was found, minting with it')
        return await mint(region, target, fresh, requestId)
      }
      setState(region.code, 'rejected', error.message, undefined, credentials.version)
      throw new BrokerError('QB_CREDENTIALS_REJECTED', `Qlik rejects the regional client of "${region.code}" and the secrets store has no newer secret`, { cause: error })
    }
  }

  return {
    async get (region, host, requestId) {
      const credentials = await credentialsFor(region.code)
      const key = cacheKey(region.code, host, credentials)
      const cached = local.get(key)
      if (usable(cached)) return { ...cached, cacheKey: key }

      const token = await singleFlight(key, async () => {
        const shared = await fromStore(key)
        if (shared !== undefined) return shared
        const minted = await mint(region, { host, origin: region.upstreamOrigin }, credentials, requestId)
        if (minted.key === key) await toStore(key, minted.token)
        else {
          await toStore(minted.key, minted.token)
          remember(minted.key, minted.token)
        }
        return minted.token
      })
      remember(key, token)
      return { ...token, cacheKey: key }
    },

    async invalidate (lease) {
      const cached = local.get(lease.cacheKey)
      if (cached?.accessToken.reveal() === lease.accessToken.reveal()) local.delete(lease.cacheKey)
      try {
        await store.deleteIfMatches(lease.cacheKey, lease.accessToken.reveal())
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'token store unavailable; invalidated in process only')
      }
    },

    credentialState (region) {
      const state = states.get(region)
      if (state === undefined) return { status: 'unknown', since: undefined, retryAt: undefined, detail: undefined }
      return { status: state.status, since: state.since, retryAt: state.retryAt, detail: state.detail }
    }
  }
}
