import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose'
import type { CallerConfig } from '../config/schema.js'
import { BrokerError } from '../http/broker-error.js'
import type { Logger } from '../observability/logger.js'
import { API_KEY_PREFIX } from './api-keys.js'
import type { Caller, CallerVerifier } from './caller.js'
import { createJwtCallerMap } from './jwt-caller-map.js'
import type { IssuerConfig } from './jwt-config.js'
import { createKeySource, keyFits, type JwksOptions, type KeySource, type VerificationKey } from './jwt-keys.js'

export interface JwtVerifierOptions {
  issuers: readonly IssuerConfig[]
  callers: readonly CallerConfig[]
  logger?: Logger
  /** Fetching of remote key sets (timeout, refresh cool-down, cache age). */
  jwks?: Partial<JwksOptions>
  /** Milliseconds since the epoch; tests move it. */
  now?: () => number
}

export interface JwtVerifier extends CallerVerifier {
  /** Replaces the callers tokens map to (a reloaded policy); issuers and cached keys stay. */
  setCallers (callers: readonly CallerConfig[]): void
  /** Closes the connections to JWKS servers. */
  close (): Promise<void>
}

/** Three base64url parts: header, payload, signature (which `alg: none` leaves empty). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
const MAX_JWT_LENGTH = 16 * 1024
/** Keys tried for one token when its header names no key id. */
const MAX_CANDIDATES = 8

/**
 * The refusal of a credential that is a JWT. Its detail says what was wrong
 * in terms the caller's operators can act on, and never names the broker's
 * configuration (issuer names, accepted algorithms, audiences, callers) nor
 * repeats the token or a claim the signature has not vouched for; the exact
 * reason goes to the broker's log (`reason`).
 */
function refuse (detail: string): BrokerError {
  return new BrokerError('QB_UNAUTHENTICATED', detail, { headers: { 'www-authenticate': 'Bearer realm="qlik-broker", error="invalid_token"' } })
}

/** What the caller is told, and what the log says, about a failure jose reported. */
function describeFailure (error: unknown): { detail: string, reason: string } | undefined {
  if (error instanceof errors.JWTExpired) return { detail: 'the JWT has expired', reason: 'expired' }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return { detail: 'the JWT is not valid yet (nbf is in the future)', reason: 'nbf in the future' }
    if (error.claim === 'aud') return { detail: 'the JWT audience is not one the broker accepts for its issuer', reason: 'audience not accepted' }
    if (error.claim === 'exp' && error.reason === 'missing') return { detail: 'the JWT has no expiry (exp); the broker only accepts tokens that expire', reason: 'no exp' }
    return { detail: `the JWT claim "${error.claim}" is not valid`, reason: `claim ${error.claim}: ${error.reason}` }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return { detail: 'the JWT algorithm is not accepted for its issuer', reason: 'algorithm not allowed' }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return { detail: 'the bearer JWT is malformed', reason: error.message }
  if (error instanceof errors.JOSENotSupported) return { detail: 'the JWT uses an algorithm or key the broker does not support', reason: error.message }
  return undefined
}

/** The keys that may verify this token: matching kid (or kid-less keys), of a type that fits the algorithm. */
function candidatesFor (keys: readonly VerificationKey[], alg: string, kid: string | undefined): VerificationKey[] {
  const fitting = keys.filter((key) => keyFits(key, alg))
  if (kid === undefined) return fitting.slice(0, MAX_CANDIDATES)
  const exact = fitting.filter((key) => key.kid === kid)
  return exact.length > 0 ? exact : fitting.filter((key) => key.kid === undefined).slice(0, MAX_CANDIDATES)
}

/**
 * Verifies bearer JWTs against the configured issuers and maps them to
 * callers. Broker API keys (`qbk_…`) and credentials that are not JWTs are
 * left to other verifiers (undefined); a JWT it cannot accept is refused
 * with a QB_UNAUTHENTICATED BrokerError saying why.
 */
export function createJwtVerifier (options: JwtVerifierOptions): JwtVerifier {
  const now = options.now ?? Date.now
  const logger = options.logger
  const byIss = new Map(options.issuers.map((issuer) => [issuer.issuer, issuer]))
  const sources = new Map<string, KeySource>(options.issuers.map((issuer) => [issuer.name, createKeySource(issuer, {
    now,
    logger,
    ...(options.jwks === undefined ? {} : { options: options.jwks })
  })]))
  let callerFor = createJwtCallerMap(options.callers)

  /** Logs the exact reason (never the token) and returns the caller's refusal. */
  function refused (detail: string, context: Record<string, unknown>): BrokerError {
    logger?.info({ ...context, detail }, 'a JWT was refused')
    return refuse(detail)
  }

  /** Refuses a token that lives longer than its issuer allows (exp in year 9999 was accepted). */
  function checkLifetime (claims: JWTPayload, issuer: IssuerConfig): void {
    if (typeof claims.exp !== 'number') return
    const nowSeconds = Math.floor(now() / 1000)
    const from = typeof claims.iat === 'number' ? Math.min(claims.iat, nowSeconds) : nowSeconds
    const lifetime = claims.exp - from
    if (lifetime > issuer.maxLifetimeSeconds + issuer.clockSkewSeconds) {
      throw refused('the JWT lives longer than the broker accepts for its issuer; use a shorter-lived token', { issuer: issuer.name, reason: 'lifetime too long', lifetimeSeconds: lifetime, maxLifetimeSeconds: issuer.maxLifetimeSeconds })
    }
  }

  async function verifySignature (token: string, issuer: IssuerConfig, alg: string, kid: string | undefined): Promise<JWTPayload> {
    const source = sources.get(issuer.name)
    let keys = await source?.current()
    if (keys === undefined) throw refused('the signing keys of the JWT issuer are not available right now; retry later', { issuer: issuer.name, reason: 'keys unavailable' })
    if (kid !== undefined && !keys.some((key) => key.kid === kid)) keys = await source?.refreshed() ?? keys
    const candidates = candidatesFor(keys, alg, kid)
    if (candidates.length === 0) {
      throw refused(kid === undefined
        ? 'no signing key of the JWT issuer fits the JWT algorithm'
        : 'no signing key of the JWT issuer has the JWT\'s key id (kid)', { issuer: issuer.name, reason: 'no fitting key', alg, kid })
    }
    for (const key of candidates) {
      try {
        const { payload } = await jwtVerify(token, key.type === 'secret' ? key.secret : key.jwk, {
          issuer: issuer.issuer,
          audience: [...issuer.audiences],
          algorithms: [alg],
          clockTolerance: issuer.clockSkewSeconds,
          currentDate: new Date(now()),
          requiredClaims: ['exp']
        })
        return payload
      } catch (error) {
        if (error instanceof errors.JWSSignatureVerificationFailed) continue
        const failure = describeFailure(error)
        if (failure !== undefined) throw refused(failure.detail, { issuer: issuer.name, reason: failure.reason })
        logger?.warn({ issuer: issuer.name, err: (error as Error).message }, 'a JWT could not be verified')
        throw refuse('the JWT could not be verified')
      }
    }
    throw refused('the JWT signature does not verify with the signing keys of its issuer', { issuer: issuer.name, reason: 'bad signature', alg, kid })
  }

  return {
    async verify (credential): Promise<Caller | undefined> {
      if (credential.startsWith(API_KEY_PREFIX) || !JWT_SHAPE.test(credential)) return undefined
      if (credential.length > MAX_JWT_LENGTH) throw refuse(`the bearer JWT is longer than ${MAX_JWT_LENGTH} characters`)
      let alg: unknown
      let kid: unknown
      let iss: unknown
      try {
        ({ alg, kid } = decodeProtectedHeader(credential))
        ;({ iss } = decodeJwt(credential))
      } catch {
        throw refuse('the bearer credential looks like a JWT but does not decode as one')
      }
      const issuer = typeof iss === 'string' ? byIss.get(iss) : undefined
      if (issuer === undefined) throw refused('the JWT issuer (iss) is not one the broker trusts', { reason: 'unknown issuer' })
      if (typeof alg !== 'string' || !(issuer.algorithms as readonly string[]).includes(alg)) {
        throw refused('the JWT algorithm is not accepted for its issuer', { issuer: issuer.name, reason: 'algorithm not accepted', alg: typeof alg === 'string' ? alg : undefined, accepted: issuer.algorithms })
      }
      const claims = await verifySignature(credential, issuer, alg, typeof kid === 'string' ? kid : undefined)
      checkLifetime(claims, issuer)

      const match = callerFor(issuer.name, claims)
      if (match.kind === 'caller') return match.caller
      const subject = typeof claims.sub === 'string' ? 'subject' : 'token (it has no subject)'
      if (match.kind === 'ambiguous') {
        logger?.warn({ issuer: issuer.name, sub: claims.sub, callers: match.callers }, 'a JWT matches the claim rules of several callers; refused')
        throw refuse(`the JWT is valid, but its ${subject} matches the claim rules of several callers; the broker configuration must make them exclusive`)
      }
      throw refused(`the JWT is valid, but its ${subject} is not a broker caller`, { issuer: issuer.name, reason: 'not a broker caller', sub: claims.sub })
    },
    setCallers (callers) {
      callerFor = createJwtCallerMap(callers)
    },
    async close () {
      await Promise.all([...sources.values()].map(async (source) => source.close()))
    }
  }
}
