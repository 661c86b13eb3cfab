import { readCredentialFile, watchCredentialFile } from './credential-file.js'
import type { CredentialFileWatch } from './credential-file.js'
import type { VaultClient, VaultLoginResult } from './vault-client.js'
import { VaultLoginError, VaultRequestError, describeVaultError, isVaultUnreachable } from './vault-errors.js'

/**
 * How to get a Vault token. `mount` is the auth mount without `auth/`
 * (`approle`, `kubernetes`).
 *
 * Credentials given as files are never read once and kept: their writers
 * replace them. `tokenFile` (a Vault Agent sink, rewritten whenever the agent
 * logs in again) and `secretIdFile` are re-read when they change and whenever
 * Vault refuses the token in use; the Kubernetes `jwtPath` is re-read on every
 * login, because projected service account tokens rotate
 * (docs/reference/vault-api.md §3.3, §5).
 */
export type VaultAuthOptions =
  | { method: 'token', token: string }
  | { method: 'token', tokenFile: string }
  | { method: 'approle', mount: string, roleId: string, secretId: string }
  | { method: 'approle', mount: string, roleId: string, secretIdFile: string }
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
   * Vault answered 403 to a call made with `token`. Resolves true when one
   * retry with a fresh `token()` makes sense: login-based methods drop the
   * token (the next `token()` logs in again), a token file is read again and
   * holds a different token. A static token, or a token file that still holds
   * the refused token, cannot be replaced: false.
   */
  refused (token: string): Promise<boolean>
  /** Logs in now (a static token is looked up to learn its TTL) instead of on first need. */
  start (): Promise<void>
  close (): void
}

export interface VaultTokenKeeperDeps {
  client: VaultClient
  auth: VaultAuthOptions
  logger: VaultLogger
  now: () => number
  /** How often a token or secret_id file is checked for new content; default 5 s. */
  fileCheckIntervalMs?: number
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
const DEFAULT_FILE_CHECK_MS = 5000
const TOKEN_FILE = 'the Vault token file'
const SECRET_ID_FILE = 'the AppRole secret_id file'
const JWT_FILE = 'the Kubernetes service account token'

export function createVaultTokenKeeper ({ client, auth, logger, now, fileCheckIntervalMs }: VaultTokenKeeperDeps): VaultTokenKeeper {
  const where = auth.method === 'token' ? { method: 'token' } : { method: auth.method, mount: auth.mount }
  const tokenFile = auth.method === 'token' && 'tokenFile' in auth ? auth.tokenFile : undefined
  const secretIdFile = auth.method === 'approle' && 'secretIdFile' in auth ? auth.secretIdFile : undefined
  let held: Held | undefined = auth.method === 'token' && 'token' in auth ? staticHeld(auth.token) : undefined
  let loginInFlight: Promise<string> | undefined
  let lookedUp = false
  let closed = false
  const fileWatch = watchFileIfAny()

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

  /** Reads a watched file and marks its content as seen, so the watch does not report it as a change. */
  async function readWatched (path: string, what: string): Promise<string> {
    const content = await readCredentialFile(path, what)
    fileWatch?.seen(content)
    return content
  }

  /** Takes a token read from the token file; true when it replaced a different one. */
  function adoptStatic (token: string): boolean {
    if (held?.token === token) return false
    const previous = held
    if (previous !== undefined) drop(previous)
    held = staticHeld(token)
    lookedUp = false
    return previous !== undefined
  }

  async function readTokenFile (path: string): Promise<string> {
    const token = await readWatched(path, TOKEN_FILE)
    if (closed) return token
    const first = held === undefined
    if (adoptStatic(token)) {
      logger.info({ ...where, file: path }, 'read a new Vault token from its file')
    } else if (first) {
      logger.info({ ...where, file: path }, 'read the Vault token from its file')
    }
    return token
  }

  async function doLogin (): Promise<string> {
    if (auth.method === 'token') return 'tokenFile' in auth ? await readTokenFile(auth.tokenFile) : auth.token
    let result: VaultLoginResult
    try {
      result = auth.method === 'approle'
        ? await client.approleLogin({
          mount: auth.mount,
          roleId: auth.roleId,
          secretId: 'secretIdFile' in auth ? await readWatched(auth.secretIdFile, SECRET_ID_FILE) : auth.secretId
        })
        : await client.kubernetesLogin({ mount: auth.mount, role: auth.role, jwt: await readCredentialFile(auth.jwtPath, JWT_FILE) })
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

  /** A login that reads its files after now: one already in flight may have read them before they changed. */
  async function loginAfterInFlight (): Promise<string> {
    await loginInFlight?.catch(() => undefined)
    return await login()
  }

  function watchFileIfAny (): CredentialFileWatch | undefined {
    const path = tokenFile ?? secretIdFile
    if (path === undefined) return undefined
    const what = tokenFile === undefined ? SECRET_ID_FILE : TOKEN_FILE
    return watchCredentialFile({
      path,
      what,
      intervalMs: fileCheckIntervalMs ?? DEFAULT_FILE_CHECK_MS,
      onProblem: (reason) => {
        logger.warn({ ...where, file: path, reason }, `cannot read ${what}; keeping the Vault token in use`)
      },
      onChange: () => {
        if (closed) return
        if (tokenFile !== undefined) {
          // A Vault Agent logged in again: its new token replaces ours before Vault refuses the old one.
          loginAfterInFlight()
            .then(() => { if (!lookedUp) lookUpStatic().catch(() => undefined) })
            .catch((err: unknown) => { logger.warn({ ...where, reason: describeVaultError(err) }, 'cannot use the new Vault token file') })
          return
        }
        // A new secret_id: log in with it now, while the current token still works. A
        // failed login keeps the current token (and its renewals) in use.
        if (held === undefined) return // nothing in use: the next call logs in with the new file
        logger.info({ ...where, file: path }, 'the AppRole secret_id file changed; logging in again with it')
        loginAfterInFlight().catch((err: unknown) => {
          logger.warn({ ...where, reason: describeVaultError(err) }, 'Vault login with the new secret_id failed; keeping the current token')
        })
      }
    })
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
        if (tokenFile !== undefined) {
          // A Vault Agent may have logged in again and written a new token.
          logger.warn({ ...where, reason }, 'Vault refused to renew the token; reading the token file again')
          login().catch((loginErr: unknown) => {
            logger.warn({ ...where, reason: describeVaultError(loginErr) }, 'cannot read the Vault token file')
          })
          return
        }
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
        let token = held?.token
        const expired = held?.expiresAt != null && now() >= held.expiresAt
        // An expired token from a file may have been replaced there; an inline one cannot be.
        if (token === undefined || (expired && tokenFile !== undefined)) token = await login()
        if (!lookedUp) lookUpStatic().catch(() => undefined)
        return token
      }
      if (held !== undefined && (held.expiresAt === null || now() < held.expiresAt)) return held.token
      if (held !== undefined) drop(held)
      return await login()
    },

    async refused (token) {
      if (auth.method !== 'token') {
        if (held?.token === token) drop(held)
        return true
      }
      if (tokenFile === undefined) return false
      try {
        return await loginAfterInFlight() !== token
      } catch (err) {
        logger.warn({ ...where, reason: describeVaultError(err) }, 'cannot read the Vault token file')
        return false
      }
    },

    async start () {
      if (auth.method === 'token') {
        if (held === undefined) await login()
        await lookUpStatic()
        return
      }
      if (held === undefined) await login()
    },

    close () {
      closed = true
      fileWatch?.stop()
      if (held !== undefined) clearTimeout(held.timer)
      held = undefined
    }
  }
}

function staticHeld (token: string): Held {
  return { token, expiresAt: null, grantedSeconds: 0, renewable: false, failures: 0, timer: undefined }
}

function backoff (failures: number): number {
  return Math.min(BACKOFF_START_MS * 2 ** (failures - 1), BACKOFF_MAX_MS) * (1 - JITTER * Math.random())
}
