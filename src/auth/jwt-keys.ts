import { readFileSync } from 'node:fs'
import { Agent, request } from 'undici'
import type { Logger } from '../observability/logger.js'
import { isHmacAlgorithm, keyFitsAlgorithm, toPublicJwk, type IssuerConfig, type PublicJwk } from './jwt-config.js'

/** A key a token may be verified with: an issuer's public key, or an explicitly configured HMAC secret. */
export type VerificationKey =
  | { type: 'public', kid: string | undefined, jwk: PublicJwk }
  | { type: 'secret', kid: string | undefined, secret: Uint8Array }

/**
 * The one place that decides which key may verify which algorithm: HMAC
 * only with a configured shared secret, public-key algorithms only with a
 * public key of the matching type and curve. So a token "signed" with HS256
 * using an issuer's public key as the secret finds no key at all.
 */
export function keyFits (key: VerificationKey, algorithm: string): boolean {
  return key.type === 'secret' ? isHmacAlgorithm(algorithm) : keyFitsAlgorithm(key.jwk, algorithm)
}

/** Where an issuer's keys come from. */
export interface KeySource {
  /** The keys to try; undefined when none could be obtained (yet). */
  current (): Promise<readonly VerificationKey[] | undefined>
  /**
   * Asked when a token names a key id the current keys lack: fetches the key
   * set again unless that was tried within the cool-down, then answers the keys.
   */
  refreshed (): Promise<readonly VerificationKey[] | undefined>
  close (): Promise<void>
}

export interface JwksOptions {
  /** Time one fetch (discovery or JWKS) may take. Default 5 s. */
  timeoutMs: number
  /** At most one fetch per issuer in this window, whatever tokens arrive. Default 30 s. */
  cooldownMs: number
  /** Keys older than this are fetched again in the background (kept if that fails). Default 10 min. */
  maxAgeMs: number
  /** Largest discovery document or key set accepted. Default 256 KiB. */
  maxBytes: number
}

export const DEFAULT_JWKS_OPTIONS: JwksOptions = { timeoutMs: 5_000, cooldownMs: 30_000, maxAgeMs: 600_000, maxBytes: 256 * 1024 }

/** HMAC secrets shorter than this are refused (RFC 7518 §3.2: at least the hash size). */
const MIN_SECRET_BYTES = 32

/** A file the configuration names, read at start-up: a missing one stops the broker with a clear message. */
function readConfigured (path: string, field: string, issuerName: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new Error(`issuer "${issuerName}": cannot read ${field} ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
}

function readSecret (path: string, issuerName: string): Uint8Array {
  const bytes = readConfigured(path, 'sharedSecretFile', issuerName)
  // A trailing newline is an editor's, not the secret's.
  const secret = bytes.subarray(0, bytes.length - (bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? 2 : 1) : 0))
  if (secret.length < MIN_SECRET_BYTES) throw new Error(`issuer "${issuerName}": the shared secret in ${path} is shorter than ${MIN_SECRET_BYTES} bytes`)
  return new Uint8Array(secret)
}

/** Keys written in the configuration. */
export function createStaticKeySource (issuer: IssuerConfig): KeySource {
  const keys: VerificationKey[] = (issuer.staticKeys ?? []).map((entry) => {
    if (entry.sharedSecretFile !== undefined) return { type: 'secret', kid: entry.kid, secret: readSecret(entry.sharedSecretFile, issuer.name) }
    const result = toPublicJwk(entry.pem !== undefined ? { pem: entry.pem } : { jwk: entry.jwk ?? {} })
    // The configuration was validated; a key failing here is a broker bug.
    if ('problem' in result) throw new Error(`issuer "${issuer.name}": a static key is ${result.problem}`)
    const kid = entry.kid ?? (typeof entry.jwk?.kid === 'string' ? entry.jwk.kid : undefined)
    return { type: 'public', kid, jwk: { ...result.jwk, ...(kid === undefined ? {} : { kid }) } }
  })
  Object.freeze(keys)
  return {
    async current () { return keys },
    async refreshed () { return keys },
    async close () {}
  }
}

/** Keeps the usable public signing keys of a JWKS document; anything else (secrets, private keys, encryption keys, junk) is dropped. */
export function parseJwks (document: unknown): VerificationKey[] {
  const list = (typeof document === 'object' && document !== null && Array.isArray((document as { keys?: unknown }).keys)) ? (document as { keys: unknown[] }).keys : undefined
  if (list === undefined) throw new Error('the document has no "keys" array')
  const keys: VerificationKey[] = []
  for (const entry of list) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) continue
    const jwk = entry as Record<string, unknown>
    if (jwk.use !== undefined && jwk.use !== 'sig') continue
    const result = toPublicJwk({ jwk })
    if ('problem' in result) continue
    const kid = typeof jwk.kid === 'string' && jwk.kid !== '' ? jwk.kid : undefined
    keys.push({ type: 'public', kid, jwk: { ...result.jwk, ...(kid === undefined ? {} : { kid }) } })
  }
  return keys
}

export interface JwksSourceOptions {
  issuer: IssuerConfig
  options?: Partial<JwksOptions>
  logger?: Logger | undefined
  /** Milliseconds; the verifier's clock, so tests can move time. */
  now?: () => number
}

/**
 * An issuer's keys from its JWKS URL (given, or found by OIDC discovery).
 * Fetched on first use, shared by concurrent requests, kept when a later
 * fetch fails, fetched again in the background when older than `maxAgeMs`
 * and on an unknown key id, never more than once per `cooldownMs`.
 */
export function createJwksKeySource ({ issuer, options = {}, logger, now = Date.now }: JwksSourceOptions): KeySource {
  const settings = { ...DEFAULT_JWKS_OPTIONS, ...options }
  const dispatcher = new Agent({
    keepAliveTimeout: 10_000,
    headersTimeout: settings.timeoutMs,
    bodyTimeout: settings.timeoutMs,
    connect: { timeout: settings.timeoutMs, ...(issuer.jwksCaFile === undefined ? {} : { ca: readConfigured(issuer.jwksCaFile, 'jwksCaFile', issuer.name).toString('utf8') }) }
  })
  const issuerOrigin = URL.canParse(issuer.issuer) ? new URL(issuer.issuer).origin : undefined
  let jwksUrl = issuer.jwksUrl
  let keys: readonly VerificationKey[] | undefined
  let fetchedAt = Number.NEGATIVE_INFINITY
  let lastAttempt = Number.NEGATIVE_INFINITY
  let pending: Promise<void> | undefined

  const coolingDown = (): boolean => now() - lastAttempt < settings.cooldownMs

  async function getJson (url: string, withToken: boolean): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (withToken && issuer.jwksTokenFile !== undefined) headers.authorization = `Bearer ${readFileSync(issuer.jwksTokenFile, 'utf8').trim()}`
    const response = await request(url, { method: 'GET', headers, dispatcher, signal: AbortSignal.timeout(settings.timeoutMs) })
    if (response.statusCode !== 200) {
      await response.body.dump()
      throw new Error(`HTTP ${response.statusCode}`)
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length
      if (size > settings.maxBytes) {
        response.body.destroy()
        throw new Error(`the answer is larger than ${settings.maxBytes} bytes`)
      }
      chunks.push(chunk as Buffer)
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  }

  /** Our own bearer token only goes to the issuer's origin or the configured JWKS URL. */
  const sendsToken = (url: string): boolean => url === issuer.jwksUrl || (issuerOrigin !== undefined && new URL(url).origin === issuerOrigin && url.startsWith('https:'))

  async function discover (): Promise<string> {
    const url = `${issuer.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
    const document = await getJson(url, sendsToken(url)) as Record<string, unknown> | null
    if (typeof document !== 'object' || document === null) throw new Error('the discovery document is not an object')
    // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
    if (document.issuer !== issuer.issuer) throw new Error('the discovery document names another issuer')
    const uri = document.jwks_uri
    if (typeof uri !== 'string' || !URL.canParse(uri)) throw new Error('the discovery document has no jwks_uri')
    const parsed = new URL(uri)
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname))) throw new Error('jwks_uri is not https')
    return uri
  }

  function refresh (reason: string): Promise<void> {
    if (pending !== undefined) return pending
    lastAttempt = now()
    pending = (async () => {
      let url = jwksUrl ?? `${issuer.issuer} (discovery)`
      try {
        jwksUrl ??= await discover()
        url = jwksUrl
        const fetched = parseJwks(await getJson(jwksUrl, sendsToken(jwksUrl)))
        if (fetched.length === 0) throw new Error('the key set has no usable signing key')
        keys = Object.freeze(fetched)
        fetchedAt = now()
        logger?.info({ issuer: issuer.name, url, keys: fetched.length, kids: fetched.map((key) => key.kid ?? '-'), reason }, 'fetched the issuer\'s signing keys')
      } catch (error) {
        const message = (error as Error).name === 'TimeoutError' ? `no answer within ${settings.timeoutMs} ms` : (error as Error).message
        logger?.warn({ issuer: issuer.name, url, err: message, reason, retryAfterMs: settings.cooldownMs },
          keys === undefined ? 'cannot fetch the issuer\'s signing keys; its tokens are refused until they are fetched' : 'cannot refresh the issuer\'s signing keys; keeping the cached ones')
      } finally {
        pending = undefined
      }
    })()
    return pending
  }

  return {
    async current () {
      if (keys === undefined) {
        if (pending !== undefined) await pending
        else if (!coolingDown()) await refresh('first use')
      } else if (now() - fetchedAt >= settings.maxAgeMs && pending === undefined && !coolingDown()) {
        // Serve the cached keys now; the fresh set is there for the next tokens.
        refresh('cache expired').catch(() => {})
      }
      return keys
    },
    async refreshed () {
      if (pending !== undefined) await pending
      else if (!coolingDown()) await refresh('unknown key id')
      return keys
    },
    async close () {
      await dispatcher.close()
    }
  }
}

export function createKeySource (issuer: IssuerConfig, options: Omit<JwksSourceOptions, 'issuer'>): KeySource {
  return issuer.staticKeys !== undefined ? createStaticKeySource(issuer) : createJwksKeySource({ issuer, ...options })
}
