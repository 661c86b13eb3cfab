import { createHash } from 'node:crypto'
import type { RegionConfig } from '../config/load-config.js'
import { BrokerError } from '../http/broker-error.js'
import type { Logger } from '../observability/logger.js'
import { ClientRejectedError, type TokenEndpoint } from '../qlik/token-endpoint.js'
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

/** What happens inside the provider, for metrics. Hosts are reported as given; the observer bounds cardinality. */
export type TokenEvent =
  | { type: 'hit', layer: 'process' | 'store' }
  | { type: 'miss' }
  | { type: 'mint', region: string, host: string, reason: 'request' | 'refresh' }
  | { type: 'mint-failed', region: string, host: string }
  | { type: 'host-refused', region: string, host: string }
  | { type: 'refresh-adopted', region: string, host: string }
  | { type: 'lock-wait' }
  | { type: 'store-error' }

export interface TokenProvider {
  /** A token valid for at least the expiry margin, for `host` in `region`. */
  get (region: RegionConfig, host: string, requestId?: string): Promise<TokenLease>
  /**
   * Qlik answered 401 with this token: forget it (only if still cached) so
   * the next get mints, and never serve it again from any cache.
   */
  invalidate (lease: TokenLease): Promise<void>
  credentialState (region: string): RegionCredentialState
  /** Tokens held in process, by key, with their expiry (for gauges). Never the token. */
  held (): Array<{ region: string, host: string, expiresAt: number }>
  close (): void
}

export interface TokenProviderOptions {
  secrets: SecretsSource
  store: TokenStore
  endpoint: TokenEndpoint
  /** Tokens are dropped this long before Qlik's expiry. */
  expiryMarginMs: number
  logger: Logger
  now?: () => number
  random?: () => number
  /** Bound on in-process entries; old keys (rotated secrets, idle tenants) fall out first. */
  maxLocalEntries?: number
  /** First back-off after the client was rejected; doubles up to 5 minutes. */
  rejectedBackoffMs?: number
  /** A token in use is replaced in the background at this fraction of its lifetime (random in the window, per replica). */
  refreshWindow?: { from: number, to: number }
  /** Lease of the cross-replica mint lock; a holder that dies is taken over after it. */
  mintLeaseMs?: number
  /** How long a request waits for another replica's mint before minting itself. */
  mintWaitMs?: number
  /**
   * How long a tenant host whose token request Qlik refused (while the
   * client itself is not in doubt) is answered from memory, without asking
   * Qlik or the secrets store again.
   */
  hostRefusedTtlMs?: number
  onEvent?: (event: TokenEvent) => void
}

/** One object for every process-cache hit: the hot path allocates no event. */
const PROCESS_HIT: TokenEvent = Object.freeze({ type: 'hit', layer: 'process' })
const MAX_REJECTED_BACKOFF_MS = 5 * 60_000
const STORE_WARNING_INTERVAL_MS = 30_000
/** While a region is rejected, requests look for a new secret version at most this often. */
const PAUSED_SECRET_CHECK_MS = 1_000
/** Bound on remembered hosts (accepted or refused), per replica. */
const MAX_REMEMBERED_HOSTS = 10_000
/** Bound on remembered refused tokens, per replica. */
const MAX_REFUSED_TOKENS = 10_000

/** What a mint attempt came to: a token, or a newer secret version to mint with under its own key. */
type MintOutcome =
  | { kind: 'minted', token: CachedToken }
  | { kind: 'rotated', credentials: RegionCredentials }

/** A token and the key it is cached under (a rotated secret moves it to a new key). */
interface Obtained {
  token: CachedToken
  key: string
}

interface Held {
  token: CachedToken
  region: RegionConfig
  host: string
  lastUsed: number
  refreshTimer: NodeJS.Timeout | undefined
}

/**
 * Tokens per (region, host, client id, secret version): first the
 * in-process cache (no I/O on the hot path), then the shared store, then one
 * mint per key across all replicas (a Redis lock with a fenced, renewed
 * lease; waiters wake when the mint lands). Tokens in use are refreshed
 * ahead of expiry in the background, so steady-state requests never wait. A
 * store outage degrades to process-local caching and minting; it never
 * fails a request that Qlik could serve.
 */
export function createTokenProvider (options: TokenProviderOptions): TokenProvider {
  const { secrets, store, endpoint, logger } = options
  const now = options.now ?? Date.now
  const random = options.random ?? Math.random
  const maxLocalEntries = options.maxLocalEntries ?? 10_000
  const refreshWindow = options.refreshWindow ?? { from: 0.6, to: 0.8 }
  const mintLeaseMs = options.mintLeaseMs ?? 5_000
  const mintWaitMs = options.mintWaitMs ?? 30_000
  const emit = options.onEvent ?? (() => {})
  const local = new Map<string, Held>()
  const singleFlight = createSingleFlight<Obtained>()
  const states = new Map<string, RegionCredentialState & { rejectedVersion?: string, backoffMs: number }>()
  const hostRefusedTtlMs = options.hostRefusedTtlMs ?? 60_000
  /** `region:host` of tenant hosts that issued a token to the client: a later refusal there is evidence about the client. */
  const acceptedHosts = new Map<string, true>()
  /** `region:host` of tenant hosts that refused a token, until when. */
  const refusedHosts = new Map<string, { until: number, status: number }>()
  /**
   * Digests of tokens Qlik answered 401 to, with their expiry. Dropping a
   * token from the caches is not enough: a read of the shared store that was
   * sent before the delete landed (the delete script was not loaded in Redis,
   * so it took a second round trip) or a delete that failed still hands it
   * back, and the one retry after a 401 would go out with the same dead
   * token (whether a recreated or rotated client's tokens keep working is not
   * documented, docs/reference/qlik-cloud-api.md §8: a 401 says they do not).
   */
  const refusedTokens = new Map<string, number>()
  /** While a region is rejected: its last look for a newer secret (when, and what it found). */
  const pausedSecretChecks = new Map<string, { at: number, found: Promise<RegionCredentials | undefined> }>()
  const recoveryTimers = new Map<string, NodeJS.Timeout>()
  let lastStoreWarning = 0
  let closed = false

  const usable = (token: CachedToken | undefined): token is CachedToken => token !== undefined && token.expiresAt - options.expiryMarginMs > now() && !wasRefused(token)

  /** The digest keeps no usable copy of a dead token around longer than the token itself. */
  const digest = (token: CachedToken | TokenLease): string => createHash('sha256').update(token.accessToken.reveal()).digest('base64url')

  function wasRefused (token: CachedToken): boolean {
    if (refusedTokens.size === 0) return false
    const id = digest(token)
    const until = refusedTokens.get(id)
    if (until === undefined) return false
    if (until > now()) return true
    refusedTokens.delete(id)
    return false
  }

  function storeFailed (error: unknown, what: string): void {
    emit({ type: 'store-error' })
    if (now() - lastStoreWarning > STORE_WARNING_INTERVAL_MS) {
      lastStoreWarning = now()
      logger.warn({ err: (error as Error).message, store: store.kind }, `token store unavailable (${what}); using the in-process cache and minting locally`)
    }
  }

  function forget (key: string): void {
    const held = local.get(key)
    if (held === undefined) return
    clearTimeout(held.refreshTimer)
    local.delete(key)
  }

  function remember (key: string, region: RegionConfig, host: string, token: CachedToken): void {
    const previous = local.get(key)
    clearTimeout(previous?.refreshTimer)
    local.delete(key)
    const held: Held = { token, region, host, lastUsed: previous?.lastUsed ?? now(), refreshTimer: undefined }
    local.set(key, held)
    if (local.size > maxLocalEntries) {
      const oldest = local.keys().next().value
      if (oldest !== undefined) forget(oldest)
    }
    scheduleRefresh(key, held)
  }

  function scheduleRefresh (key: string, held: Held): void {
    if (closed) return
    const { token } = held
    const lifetime = token.expiresAt - token.issuedAt
    const fraction = refreshWindow.from + random() * (refreshWindow.to - refreshWindow.from)
    const latest = token.expiresAt - options.expiryMarginMs - Math.min(1_000, lifetime * 0.05)
    const at = Math.min(token.issuedAt + lifetime * fraction, latest)
    held.refreshTimer = setTimeout(() => { refresh(key, held).catch(() => {}) }, Math.max(0, at - now()))
    held.refreshTimer.unref()
  }

  async function refresh (key: string, held: Held): Promise<void> {
    if (local.get(key) !== held || closed) return
    // Idle keys (no request during this token's life) are let go, not refreshed forever.
    if (held.lastUsed < held.token.issuedAt) {
      forget(key)
      return
    }
    try {
      const credentials = await secrets.get(held.region.code)
      if (cacheKey(held.region.code, held.host, credentials) !== key) {
        forget(key)
        return
      }
      const obtained = await singleFlight(key, async () => obtain(key, held.region, held.host, credentials, undefined, 'refresh', held.token.expiresAt))
      if (obtained.key !== key) forget(key)
      else if (local.get(key) === held) remember(key, held.region, held.host, obtained.token)
    } catch (error) {
      const left = held.token.expiresAt - options.expiryMarginMs - now()
      logger.warn({ region: held.region.code, host: held.host, err: (error as Error).message }, 'background token refresh failed; the current token stays in use')
      if (left > 2_000 && local.get(key) === held) {
        held.refreshTimer = setTimeout(() => { refresh(key, held).catch(() => {}) }, Math.min(10_000, left / 2))
        held.refreshTimer.unref()
      }
    }
  }

  function setState (region: string, status: CredentialStatus, detail?: string, rejectedVersion?: string): void {
    const previous = states.get(region)
    const backoffMs = status === 'rejected'
      ? Math.min(previous?.status === 'rejected' ? previous.backoffMs * 2 : options.rejectedBackoffMs ?? 30_000, MAX_REJECTED_BACKOFF_MS)
      : 0
    states.set(region, {
      status,
      since: previous?.status === status ? previous.since : now(),
      retryAt: status === 'rejected' ? now() + backoffMs : undefined,
      detail,
      backoffMs,
      ...(rejectedVersion === undefined ? {} : { rejectedVersion })
    })
    if (previous?.status !== status) {
      const fields = { region, credentialStatus: status, detail }
      if (status === 'ok') logger.info(fields, `regional client credentials: ${status}`)
      else logger.warn(fields, `regional client credentials: ${status}`)
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
      if (token !== undefined && wasRefused(token)) {
        // Still shared (its delete was lost or raced this read): drop it for the other replicas too.
        await store.deleteIfMatches(key, token.accessToken.reveal())
        return undefined
      }
      return usable(token) ? token : undefined
    } catch (error) {
      storeFailed(error, 'read')
      return undefined
    }
  }

  /** Records `key` as the newest entry of a bounded insertion-ordered map. */
  function touch<V> (map: Map<string, V>, key: string, value: V, bound = MAX_REMEMBERED_HOSTS): void {
    map.delete(key)
    map.set(key, value)
    if (map.size > bound) {
      const oldest = map.keys().next().value
      if (oldest !== undefined) map.delete(oldest)
    }
  }

  function refusedError (region: string, host: string, refusal: { until: number, status: number }): BrokerError {
    return new BrokerError('QB_TENANT_HOST_REFUSED', `Qlik issues no token for "${host}" to the regional client of "${region}" (HTTP ${refusal.status}): check the tenant hostname; it is asked again after ${new Date(refusal.until).toISOString()}`,
      { headers: { 'retry-after': String(Math.max(1, Math.ceil((refusal.until - now()) / 1000))) } })
  }

  /**
   * A refusal on one tenant host is that host's problem (a misspelt, purged
   * or foreign hostname: docs/reference/qlik-cloud-api.md §11): the request
   * fails and the host is answered from memory for a while; the region's
   * client stays usable for every other host.
   */
  function refuseHost (region: string, host: string, status: number): BrokerError {
    const refusal = { until: now() + hostRefusedTtlMs, status }
    touch(refusedHosts, `${region}:${host}`, refusal)
    emit({ type: 'host-refused', region, host })
    logger.warn({ region, host, status }, 'Qlik refused a token for this tenant host; the host is refused for a while, the region\'s client stays in use')
    return refusedError(region, host, refusal)
  }

  /** Re-reads the secret; the newer version when the store has one. */
  async function newerSecret (region: string, credentials: RegionCredentials): Promise<RegionCredentials | undefined> {
    let fresh: RegionCredentials
    try {
      fresh = await secrets.refresh(region)
    } catch {
      return undefined
    }
    return fresh.version !== credentials.version || fresh.clientId !== credentials.clientId ? fresh : undefined
  }

  function rejectRegion (region: RegionConfig, detail: string, version: string): void {
    setState(region.code, 'rejected', detail, version)
    scheduleRecovery(region)
  }

  /**
   * A rejected region is tried again in the background at `retryAt`: a
   * token request on the register host with the secret the store holds
   * then, so it recovers (or backs off further) without waiting for a
   * caller's request. It asks Qlik even when a register token is cached:
   * that token may belong to a client Qlik no longer knows.
   */
  function scheduleRecovery (region: RegionConfig): void {
    const state = states.get(region.code)
    if (closed || state?.retryAt === undefined) return
    clearTimeout(recoveryTimers.get(region.code))
    const timer = setTimeout(() => {
      recoveryTimers.delete(region.code)
      if (closed || states.get(region.code)?.status !== 'rejected') return
      logger.info({ region: region.code }, 'retrying the rejected regional client in the background')
      recover(region).catch(() => {})
    }, Math.max(0, state.retryAt - now()))
    timer.unref()
    recoveryTimers.set(region.code, timer)
  }

  async function recover (region: RegionConfig): Promise<void> {
    const host = region.registerHost
    const credentials = await credentialsFor(region.code)
    const key = cacheKey(region.code, host, credentials)
    const obtained = await singleFlight(key, async () => mintUnlocked(key, region, host, credentials, undefined, 'refresh', 0))
    remember(obtained.key, region, host, obtained.token)
  }

  /**
   * One token request with the current secret. When Qlik refuses it, the
   * secret is read again: a newer version is handed back to be minted under
   * its own key; otherwise the refusal is classified (docs/reference/qlik-cloud-api.md §2.4, §11):
   * the register host, or a tenant host that accepted this client before,
   * refusing it is evidence about the client (the region is rejected); any
   * other tenant host refusing is that host's problem.
   */
  async function mint (region: RegionConfig, host: string, credentials: RegionCredentials, requestId: string | undefined, reason: 'request' | 'refresh'): Promise<MintOutcome> {
    const state = states.get(region.code)
    if (state?.status === 'rejected' && state.rejectedVersion === credentials.version && (state.retryAt ?? 0) > now()) {
      // A new secret written to the store is used at once, not after the
      // back-off: by the request that looks for it and by every request
      // that comes while it looks (they share the look, and its answer).
      let check = pausedSecretChecks.get(region.code)
      if (check === undefined || now() - check.at >= PAUSED_SECRET_CHECK_MS) {
        check = { at: now(), found: newerSecret(region.code, credentials) }
        pausedSecretChecks.set(region.code, check)
      }
      const fresh = await check.found
      if (fresh !== undefined && (fresh.version !== credentials.version || fresh.clientId !== credentials.clientId)) return { kind: 'rotated', credentials: fresh }
      throw new BrokerError('QB_CREDENTIALS_REJECTED', `Qlik rejects the regional client of "${region.code}"; minting paused until ${new Date(state.retryAt ?? 0).toISOString()} (a new secret in the secrets store is used at once)`,
        { headers: { 'retry-after': String(Math.max(1, Math.ceil(((state.retryAt ?? 0) - now()) / 1000))) } })
    }
    try {
      const token = await endpoint.mint({ host, origin: region.upstreamOrigin }, credentials, requestId)
      setState(region.code, 'ok')
      touch(acceptedHosts, `${region.code}:${host}`, true)
      emit({ type: 'mint', region: region.code, host, reason })
      logger.info({ region: region.code, host, reason, expiresAt: new Date(token.expiresAt).toISOString() }, 'minted access token')
      return { kind: 'minted', token }
    } catch (error) {
      emit({ type: 'mint-failed', region: region.code, host })
      if (!(error instanceof ClientRejectedError)) throw error
      const onRegister = host === region.registerHost
      // 404: the host itself is unknown; it says nothing about the secret.
      if (error.status === 404 && !onRegister) throw refuseHost(region.code, host, error.status)
      const fresh = await newerSecret(region.code, credentials)
      if (fresh !== undefined) {
        logger.info({ region: region.code, version: fresh.version }, 'Qlik refused the client; a new secret version was found, minting with it')
        return { kind: 'rotated', credentials: fresh }
      }
      if (onRegister || acceptedHosts.has(`${region.code}:${host}`)) {
        rejectRegion(region, error.message, credentials.version)
        throw new BrokerError('QB_CREDENTIALS_REJECTED', `Qlik rejects the regional client of "${region.code}" and the secrets store has no newer secret`, { cause: error })
      }
      throw refuseHost(region.code, host, error.status)
    }
  }

  async function storeMinted (key: string, region: RegionConfig, host: string, token: CachedToken, commit: ((token: CachedToken, ttlMs: number) => Promise<boolean>) | undefined): Promise<Obtained> {
    const ttlMs = token.expiresAt - options.expiryMarginMs - now()
    try {
      if (commit !== undefined) {
        if (!await commit(token, ttlMs)) logger.warn({ region: region.code, host }, 'mint lock lease was lost before the token was stored; kept in process only')
      } else {
        await store.set(key, token, ttlMs)
      }
    } catch (error) {
      storeFailed(error, 'write')
    }
    return { token, key }
  }

  /** Continues under the key of a newer secret version, sharing one attempt per key in this process. */
  async function follow (region: RegionConfig, host: string, credentials: RegionCredentials, requestId: string | undefined, reason: 'request' | 'refresh', newerThan: number): Promise<Obtained> {
    const key = cacheKey(region.code, host, credentials)
    return await singleFlight(key, async () => obtain(key, region, host, credentials, requestId, reason, newerThan))
  }

  /** Mints without the shared lock (store down, or a holder that outstayed `mintWaitMs`). */
  async function mintUnlocked (key: string, region: RegionConfig, host: string, credentials: RegionCredentials, requestId: string | undefined, reason: 'request' | 'refresh', newerThan: number): Promise<Obtained> {
    const outcome = await mint(region, host, credentials, requestId, reason)
    if (outcome.kind === 'rotated') return await follow(region, host, outcome.credentials, requestId, reason, newerThan)
    return await storeMinted(key, region, host, outcome.token, undefined)
  }

  /**
   * The shared token for `key`, minted here only if no replica has one:
   * read the store, else follow a holder that moved to a newer secret, else
   * take the lock and mint, else wait for the holder. Whatever happens, a
   * lock taken here is committed or released before this returns.
   * `newerThan` makes a refresh ignore the token it is replacing.
   */
  async function obtain (key: string, region: RegionConfig, host: string, credentials: RegionCredentials, requestId: string | undefined, reason: 'request' | 'refresh', newerThan = 0): Promise<Obtained> {
    const deadline = now() + mintWaitMs
    for (;;) {
      const shared = await fromStore(key)
      if (shared !== undefined && shared.expiresAt > newerThan) {
        emit(reason === 'refresh' ? { type: 'refresh-adopted', region: region.code, host } : { type: 'hit', layer: 'store' })
        return { token: shared, key }
      }
      const moved = await movedFrom(key, region.code, credentials)
      if (moved !== undefined) return await follow(region, host, moved, requestId, reason, newerThan)
      let lock
      try {
        lock = await store.tryLock(key, mintLeaseMs)
      } catch (error) {
        storeFailed(error, 'lock')
        return await mintUnlocked(key, region, host, credentials, requestId, reason, newerThan)
      }
      if (lock !== undefined) {
        let outcome: MintOutcome
        try {
          const landed = await fromStore(key)
          if (landed !== undefined && landed.expiresAt > newerThan) {
            await lock.release()
            return { token: landed, key }
          }
          outcome = await mint(region, host, credentials, requestId, reason)
        } catch (error) {
          await lock.release().catch(() => {})
          throw error
        }
        if (outcome.kind === 'minted') return await storeMinted(key, region, host, outcome.token, lock.commit)
        // Tell the waiters on this key where the token goes, then mint there.
        await lock.release(cacheKey(region.code, host, outcome.credentials)).catch((error: unknown) => { storeFailed(error, 'release') })
        return await follow(region, host, outcome.credentials, requestId, reason, newerThan)
      }
      if (now() >= deadline) {
        logger.warn({ region: region.code, host }, 'another replica held the mint lock too long; minting here')
        return await mintUnlocked(key, region, host, credentials, requestId, reason, newerThan)
      }
      emit({ type: 'lock-wait' })
      try {
        await store.waitForMint(key, Math.min(mintLeaseMs, deadline - now()))
      } catch (error) {
        storeFailed(error, 'wait')
      }
    }
  }

  /**
   * When another replica found a newer secret while minting `key`, it left
   * a note: read the secret again here and return it, so this replica joins
   * the mint under the new key instead of asking Qlik with the refused one.
   */
  async function movedFrom (key: string, region: string, credentials: RegionCredentials): Promise<RegionCredentials | undefined> {
    let to: string | undefined
    try {
      to = await store.movedTo(key)
    } catch (error) {
      storeFailed(error, 'read')
      return undefined
    }
    if (to === undefined) return undefined
    return await newerSecret(region, credentials)
  }

  /** Throws while the host is known to refuse the region's client (its refusal not yet expired). */
  function checkHostRefusal (region: string, host: string): void {
    if (refusedHosts.size === 0) return
    const refusal = refusedHosts.get(`${region}:${host}`)
    if (refusal === undefined) return
    if (refusal.until > now()) throw refusedError(region, host, refusal)
    refusedHosts.delete(`${region}:${host}`)
  }

  /** The process cache's usable token for the host, with these credentials; undefined when there is none. */
  function heldLease (region: RegionConfig, host: string, credentials: RegionCredentials): TokenLease | undefined {
    checkHostRefusal(region.code, host)
    const key = cacheKey(region.code, host, credentials)
    const held = local.get(key)
    if (held === undefined || !usable(held.token)) return undefined
    held.lastUsed = now()
    emit(PROCESS_HIT)
    return { accessToken: held.token.accessToken, expiresAt: held.token.expiresAt, cacheKey: key }
  }

  async function obtainLease (region: RegionConfig, host: string, requestId: string | undefined): Promise<TokenLease> {
    const credentials = await credentialsFor(region.code)
    const hit = heldLease(region, host, credentials)
    if (hit !== undefined) return hit
    const key = cacheKey(region.code, host, credentials)
    emit({ type: 'miss' })
    const obtained = await singleFlight(key, async () => obtain(key, region, host, credentials, requestId, 'request'))
    // A token for the host, minted here or by another replica: the host accepts the client.
    touch(acceptedHosts, `${region.code}:${host}`, true)
    if (local.get(obtained.key)?.token !== obtained.token) remember(obtained.key, region, host, obtained.token)
    const entry = local.get(obtained.key)
    if (entry !== undefined) entry.lastUsed = now()
    return { accessToken: obtained.token.accessToken, expiresAt: obtained.token.expiresAt, cacheKey: obtained.key }
  }

  return {
    get (region, host, requestId) {
      // Most requests: the region's credentials in memory and a usable token in this process, answered in this turn.
      const credentials = secrets.held?.(region.code)
      let lease: TokenLease | undefined
      try {
        lease = credentials === undefined ? undefined : heldLease(region, host, credentials)
      } catch (error) {
        return Promise.reject(error)
      }
      return lease === undefined ? obtainLease(region, host, requestId) : Promise.resolve(lease)
    },

    async invalidate (lease) {
      touch(refusedTokens, digest(lease), lease.expiresAt, MAX_REFUSED_TOKENS)
      const held = local.get(lease.cacheKey)
      if (held?.token.accessToken.reveal() === lease.accessToken.reveal()) forget(lease.cacheKey)
      try {
        await store.deleteIfMatches(lease.cacheKey, lease.accessToken.reveal())
      } catch (error) {
        storeFailed(error, 'invalidate')
      }
    },

    credentialState (region) {
      const state = states.get(region)
      if (state === undefined) return { status: 'unknown', since: undefined, retryAt: undefined, detail: undefined }
      return { status: state.status, since: state.since, retryAt: state.retryAt, detail: state.detail }
    },

    held () {
      return [...local.values()].map((entry) => ({ region: entry.region.code, host: entry.host, expiresAt: entry.token.expiresAt }))
    },

    close () {
      closed = true
      for (const key of [...local.keys()]) forget(key)
      for (const timer of recoveryTimers.values()) clearTimeout(timer)
      recoveryTimers.clear()
    }
  }
}
