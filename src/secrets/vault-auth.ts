import { readFile } from 'node:fs/promises'
import type { VaultClient, VaultLoginResult } from './vault-client.js'
import { VaultLoginError, VaultRequestError, describeVaultError, isVaultUnreachable } from './vault-errors.js'

/**
 * How to get a Vault token. `mount` is the auth mount without `auth/`
 * (`approle`, `kubernetes`). The Kubernetes `jwtPath` is re-read on every
 * login: projected service account tokens rotate.
 */
export type VaultAuthOptions =
  | { method: 'token', token: string }
  | { method: 'approle', mount: string, roleId: string, secretId: string }
  | { method: 'kubernetes', mount: string, role: string, jwtPath: string }

/** The part of a pino logger this module uses. */
export interface VaultLogger {
  debug (obj: object, msg: string): void
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/**
 * Holds the Vault token: logs in lazily (one login however many callers
 * wait), renews the token at about two thirds of its lease, and logs in again
 * when Vault refuses a renewal or the max TTL is near. Timers are unref'ed.
 */
export interface VaultTokenKeeper {
  /** A token to call Vault with, logging in first when none is held. */
  token (): Promise<string>
  /**
   * Vault answered 403 to a call made with `token`. Login-based methods drop
   * it and return true: one retry with a fresh `token()` makes sense. A
   * static token cannot be replaced: false.
   */
  refused (token: string): boolean
  /** Logs in now (a static token is looked up to learn its TTL) instead of on first need. */
  start (): Promise<void>
  close (): void
}

export interface VaultTokenKeeperDeps {
  client: VaultClient
  auth: VaultAuthOptions
  logger: VaultLogger
  now: () => number
}

interface Held {
  token: string
  /** null: Vault reports no expiry (root-like token, or not yet looked up). */
  expiresAt: number | null
  /** Lease granted at login; a renewal that gives less means the max TTL is near. */
  grantedSeconds: number
  renewable: boolean
  failures: number
  timer: NodeJS.Timeout | undefined
}

const RENEW_AT = 2 / 3
const JITTER = 0.1
const BACKOFF_START_MS = 1000
const BACKOFF_MAX_MS = 60_000
// setTimeout fires at once for anything above 2^31-1 ms (~24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1

export function createVaultTokenKeeper ({ client, auth, logger, now }: VaultTokenKeeperDeps): VaultTokenKeeper {
  const where = auth.method === 'token' ? { method: 'token' } : { method: auth.method, mount: auth.mount }
  let held: Held | undefined = auth.method === 'token'
    ? { token: auth.token, expiresAt: null, grantedSeconds: 0, renewable: false, failures: 0, timer: undefined }
    : undefined
  let loginInFlight: Promise<string> | undefined
  let lookedUp = false
  let closed = false

  function later (h: Held, ms: number, run: () => Promise<void>): void {
    clearTimeout(h.timer)
    if (closed || held !== h) return
    h.timer = setTimeout(() => { run().catch(() => undefined) }, Math.min(Math.max(0, ms), MAX_TIMER_MS))
    h.timer.unref()
  }

  function leaseDelay (leaseSeconds: number): number {
    return leaseSeconds * 1000 * RENEW_AT * (1 - JITTER * Math.random())
  }

  function drop (h: Held): void {
    clearTimeout(h.timer)
    if (held === h) held = undefined
  }

  function hold (result: VaultLoginResult): void {
    if (held !== undefined) drop(held)
    const h: Held = {
      token: result.clientToken,
      expiresAt: result.leaseSeconds > 0 ? now() + result.leaseSeconds * 1000 : null,
      grantedSeconds: result.leaseSeconds,
      renewable: result.renewable,
      failures: 0,
      timer: undefined
    }
    held = h
    if (h.expiresAt !== null) {
      // A token that cannot be renewed is replaced by a new login instead.
      later(h, leaseDelay(result.leaseSeconds), h.renewable ? () => renew(h) : () => relogin(h))
    }
  }

  async function readJwt (jwtPath: string): Promise<string> {
    let jwt: string
    try {
      jwt = (await readFile(jwtPath, 'utf8')).trim()
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'read error'
      throw new VaultLoginError(`cannot read the Kubernetes service account token at ${jwtPath} (${code})`)
    }
    if (jwt === '') throw new VaultLoginError(`the Kubernetes service account token at ${jwtPath} is empty`)
    return jwt
  }

  async function doLogin (): Promise<string> {
    if (auth.method === 'token') return auth.token
    let result: VaultLoginResult
    try {
      result = auth.method === 'approle'
        ? await client.approleLogin({ mount: auth.mount, roleId: auth.roleId, secretId: auth.secretId })
        : await client.kubernetesLogin({ mount: auth.mount, role: auth.role, jwt: await readJwt(auth.jwtPath) })
    } catch (err) {
      if (err instanceof VaultLoginError) throw err
      throw new VaultLoginError(`Vault ${auth.method} login at auth/${auth.mount} failed: ${describeVaultError(err)}`, {
        cause: err instanceof VaultRequestError ? err : undefined
      })
    }
    if (closed) return result.clientToken
    hold(result)
    logger.info({ ...where, leaseSeconds: result.leaseSeconds, renewable: result.renewable }, 'logged in to Vault')
    return result.clientToken
  }

  function login (): Promise<string> {
    loginInFlight ??= doLogin().finally(() => { loginInFlight = undefined })
    return loginInFlight
  }

  /** Logs in again in the background; the old token stays in use while it is valid. */
  async function relogin (h: Held): Promise<void> {
    try {
      await login()
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      if (held !== h) return
      h.failures++
      const left = h.expiresAt === null ? Infinity : h.expiresAt - now()
      const retryInMs = Math.min(backoff(h.failures), left / 2)
      if (retryInMs < 100) {
        // Not worth holding on: the next call logs in on demand.
        drop(h)
        logger.warn({ ...where, reason }, 'Vault login failed; will log in again when next needed')
        return
      }
      logger.warn({ ...where, reason, retryInMs: Math.round(retryInMs) }, 'Vault login failed; retrying')
      later(h, retryInMs, () => relogin(h))
    }
  }

  async function renew (h: Held): Promise<void> {
    if (closed || held !== h) return
    try {
      const result = await client.renewSelf(h.token)
      if (closed || held !== h) return
      h.failures = 0
      h.expiresAt = now() + result.leaseSeconds * 1000
      const capped = result.leaseSeconds < h.grantedSeconds || result.warnings.some((w) => w.includes('max_ttl'))
      if (auth.method === 'token') {
        if (capped || result.leaseSeconds === 0) {
          logger.warn({ ...where, leaseSeconds: result.leaseSeconds }, 'the static Vault token reached its max TTL and will expire; replace it')
          return
        }
        logger.debug({ ...where, leaseSeconds: result.leaseSeconds }, 'renewed the Vault token')
        later(h, leaseDelay(result.leaseSeconds), () => renew(h))
        return
      }
      if (capped || result.leaseSeconds === 0) {
        // Renewing again would only shrink the lease further: log in anew before it ends.
        logger.info({ ...where, leaseSeconds: result.leaseSeconds }, 'Vault token renewal capped by its max TTL; logging in again before it expires')
        later(h, leaseDelay(result.leaseSeconds), () => relogin(h))
        return
      }
      logger.debug({ ...where, leaseSeconds: result.leaseSeconds }, 'renewed the Vault token')
      later(h, leaseDelay(result.leaseSeconds), () => renew(h))
    } catch (err) {
      if (closed || held !== h) return
      const reason = describeVaultError(err)
      const refused = err instanceof VaultRequestError && (err.status === 403 || err.status === 400)
      if (refused) {
        if (auth.method === 'token') {
          logger.warn({ ...where, reason }, 'Vault refused to renew the static token; using it as long as it lasts')
          return
        }
        logger.warn({ ...where, reason }, 'Vault refused to renew the token; logging in again')
        drop(h)
        login().catch((loginErr: unknown) => {
          logger.warn({ ...where, reason: loginErr instanceof Error ? loginErr.message : String(loginErr) }, 'Vault login failed; will log in again when next needed')
        })
        return
      }
      h.failures++
      const left = h.expiresAt === null ? Infinity : h.expiresAt - now()
      if (left <= 0 && auth.method !== 'token') {
        drop(h)
        logger.warn({ ...where, reason }, 'Vault token expired while renewal failed; will log in again when next needed')
        return
      }
      const retryInMs = Math.min(backoff(h.failures), Math.max(left / 2, 100))
      logger.warn({ ...where, reason, retryInMs: Math.round(retryInMs) }, 'Vault token renewal failed; retrying')
      later(h, retryInMs, () => renew(h))
    }
  }

  /** Learns a static token's TTL so it can be renewed; failures only cost the renewal. */
  async function lookUpStatic (): Promise<void> {
    const h = held
    if (lookedUp || h === undefined || auth.method !== 'token') return
    lookedUp = true
    try {
      const info = await client.lookupSelf(h.token)
      if (closed || held !== h) return
      h.renewable = info.renewable
      h.grantedSeconds = info.ttlSeconds
      h.expiresAt = info.ttlSeconds > 0 ? now() + info.ttlSeconds * 1000 : null
      logger.info({ ...where, ttlSeconds: info.ttlSeconds, renewable: info.renewable }, 'looked up the static Vault token')
      if (info.ttlSeconds > 0 && info.renewable) later(h, leaseDelay(info.ttlSeconds), () => renew(h))
    } catch (err) {
      // Vault away: try again on the next use. Vault refusing: it stays unrenewed.
      const retry = isVaultUnreachable(err)
      if (retry) lookedUp = false
      logger.warn({ ...where, reason: describeVaultError(err) }, retry
        ? 'cannot look up the static Vault token; will try again on next use'
        : 'cannot look up the static Vault token; it will not be renewed')
    }
  }

  return {
    async token () {
      if (closed) throw new VaultLoginError('the Vault token keeper is closed')
      if (auth.method === 'token') {
        if (!lookedUp) lookUpStatic().catch(() => undefined)
        return auth.token
      }
      if (held !== undefined && (held.expiresAt === null || now() < held.expiresAt)) return held.token
      if (held !== undefined) drop(held)
      return await login()
    },

    refused (token) {
      if (auth.method === 'token') return false
      if (held?.token === token) drop(held)
      return true
    },

    async start () {
      if (auth.method === 'token') {
        await lookUpStatic()
        return
      }
      if (held === undefined) await login()
    },

    close () {
      closed = true
      if (held !== undefined) clearTimeout(held.timer)
      held = undefined
    }
  }
}

function backoff (failures: number): number {
  return Math.min(BACKOFF_START_MS * 2 ** (failures - 1), BACKOFF_MAX_MS) * (1 - JITTER * Math.random())
}
