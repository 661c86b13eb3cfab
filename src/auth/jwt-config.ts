import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { z } from 'zod'

/**
 * Configuration of JWT callers: the trusted `issuers` (a top-level list of
 * the config file) and the `subjects` / `claims` a caller is known by.
 * `schema.ts` plugs these into the configuration schema.
 */

export const PUBLIC_KEY_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const
export const JWT_ALGORITHMS = [...PUBLIC_KEY_ALGORITHMS, ...HMAC_ALGORITHMS] as const
export type JwtAlgorithm = typeof JWT_ALGORITHMS[number]
export const DEFAULT_JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['RS256', 'ES256', 'EdDSA']
export const DEFAULT_CLOCK_SKEW_SECONDS = 30
/**
 * Longest life (exp minus iat, or minus now without iat) of a token the
 * broker accepts: a day. Kubernetes projected tokens live an hour by default,
 * OIDC access tokens minutes to hours; a token good for years is a stolen
 * credential that never goes away.
 */
export const DEFAULT_MAX_LIFETIME_SECONDS = 86_400

export function isHmacAlgorithm (algorithm: string): boolean {
  return (HMAC_ALGORITHMS as readonly string[]).includes(algorithm)
}

/** The public key of a JWK: kty, curve and key material, nothing private. */
export type PublicJwk = JsonWebKey & { kty: 'RSA' | 'EC' | 'OKP', kid?: string, alg?: string, use?: string }

const EC_CURVES: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }

/** Whether a public key may verify a token signed with `algorithm` (HMAC never: a public key is not a secret). */
export function keyFitsAlgorithm (jwk: PublicJwk, algorithm: string): boolean {
  if (jwk.alg !== undefined && jwk.alg !== algorithm) return false
  if (jwk.use !== undefined && jwk.use !== 'sig') return false
  if (/^(RS|PS)(256|384|512)$/.test(algorithm)) return jwk.kty === 'RSA'
  const curve = EC_CURVES[algorithm]
  if (curve !== undefined) return jwk.kty === 'EC' && jwk.crv === curve
  if (algorithm === 'EdDSA' || algorithm === 'Ed25519') return jwk.kty === 'OKP' && jwk.crv === 'Ed25519'
  return false
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

/**
 * A usable public verification key from a PEM (SPKI, PKCS#1 or an X.509
 * certificate) or a JWK, or the reason it is not one. Private keys are
 * refused: a broker only ever needs the public half.
 */
export function toPublicJwk (key: { pem: string } | { jwk: Record<string, unknown> }): { jwk: PublicJwk } | { problem: string } {
  let keyObject: KeyObject
  if ('pem' in key) {
    if (/PRIVATE KEY-----/.test(key.pem)) return { problem: 'a private key: give the issuer\'s public key (or certificate) only' }
    try {
      keyObject = createPublicKey(key.pem)
    } catch {
      return { problem: 'not a PEM public key or certificate' }
    }
  } else {
    const kty = key.jwk.kty
    if (kty === 'oct') return { problem: 'a symmetric JWK: a shared secret goes in `sharedSecretFile`, with an HMAC algorithm' }
    if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') return { problem: 'a JWK with kty RSA, EC or OKP is expected' }
    if (PRIVATE_JWK_MEMBERS.some((member) => member in key.jwk)) return { problem: 'a private JWK: give the issuer\'s public key only' }
    try {
      keyObject = createPublicKey({ key: key.jwk as JsonWebKey, format: 'jwk' })
    } catch {
      return { problem: 'not a valid public JWK' }
    }
  }
  const type = keyObject.asymmetricKeyType
  if (type !== 'rsa' && type !== 'ec' && type !== 'ed25519') return { problem: `a ${type ?? 'unknown'} key: RSA, EC (P-256, P-384, P-521) or Ed25519 is expected` }
  if (type === 'rsa' && (keyObject.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return { problem: 'an RSA key shorter than 2048 bits' }
  const exported = keyObject.export({ format: 'jwk' }) as PublicJwk
  const jwk: PublicJwk = { ...exported }
  if ('jwk' in key) {
    // Keep what the JWK itself says about its use; `kid` comes from the entry.
    if (typeof key.jwk.alg === 'string') jwk.alg = key.jwk.alg
    if (typeof key.jwk.use === 'string') jwk.use = key.jwk.use
  }
  return { jwk }
}

/** https, or plain http to a loopback address only (a local test server). */
function isFetchableUrl (value: string): boolean {
  if (!URL.canParse(value)) return false
  const url = new URL(value)
  if (url.username !== '' || url.password !== '' || url.hash !== '') return false
  if (url.protocol === 'https:') return true
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
}

const fetchUrl = z.string().refine(isFetchableUrl, 'an https URL (plain http is only accepted to a loopback address)')

const issuerName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'an issuer name is lowercase letters, digits, dots, dashes or underscores')

const algorithm = z.string().refine((value) => (JWT_ALGORITHMS as readonly string[]).includes(value), {
  error: (issue) => issue.input === 'none' || issue.input === 'None' || issue.input === 'NONE'
    ? '"none" is never accepted: every JWT must be signed'
    : `an algorithm is one of ${JWT_ALGORITHMS.join(', ')}`
}).transform((value) => value as JwtAlgorithm)

export const StaticKeySchema = z.strictObject({
  kid: z.string().min(1).optional(),
  pem: z.string().min(1).optional(),
  jwk: z.record(z.string(), z.unknown()).optional(),
  /** File holding an HMAC shared secret (at least 32 bytes), for HS256/384/512 issuers only. */
  sharedSecretFile: z.string().min(1).optional()
}).superRefine((key, context) => {
  const given = (['pem', 'jwk', 'sharedSecretFile'] as const).filter((field) => key[field] !== undefined)
  if (given.length !== 1) {
    context.addIssue({ code: 'custom', message: 'a static key has exactly one of `pem`, `jwk` (public keys) or `sharedSecretFile` (an HMAC secret)' })
    return
  }
  const publicKey = key.pem !== undefined ? { pem: key.pem } : (key.jwk !== undefined ? { jwk: key.jwk } : undefined)
  if (publicKey === undefined) return
  const result = toPublicJwk(publicKey)
  if ('problem' in result) context.addIssue({ code: 'custom', path: [given[0] ?? 'pem'], message: `this key is ${result.problem}` })
})

export const IssuerSchema = z.strictObject({
  /** What callers' `subjects` and `claims` refer to. */
  name: issuerName,
  /** The exact `iss` of the tokens. */
  issuer: z.string().min(1),
  /** At least one must be in the token's `aud`. */
  audiences: z.array(z.string().min(1)).min(1, 'at least one audience is required, so tokens minted for other services do not work here'),
  jwksUrl: fetchUrl.optional(),
  /** Find `jwks_uri` in `<issuer>/.well-known/openid-configuration`. */
  discovery: z.literal(true, 'discovery is `true` or left out').optional(),
  staticKeys: z.array(StaticKeySchema).min(1).optional(),
  /** PEM CA bundle trusted for the JWKS (and discovery) server, e.g. the cluster CA. */
  jwksCaFile: z.string().min(1).optional(),
  /** Bearer token sent to the JWKS server, re-read at every fetch (Kubernetes: the broker's own service-account token). */
  jwksTokenFile: z.string().min(1).optional(),
  algorithms: z.array(algorithm).min(1).default([...DEFAULT_JWT_ALGORITHMS]),
  clockSkewSeconds: z.number().int().min(0).max(300).default(DEFAULT_CLOCK_SKEW_SECONDS),
  /** Longest token life accepted (exp − iat, or exp − now without iat), default a day, at most 30 days. */
  maxLifetimeSeconds: z.number().int().min(60).max(30 * 86_400).default(DEFAULT_MAX_LIFETIME_SECONDS)
}).superRefine((issuer, context) => {
  const add = (path: string, message: string): void => { context.addIssue({ code: 'custom', path: [path], message }) }
  const sources = [issuer.jwksUrl !== undefined, issuer.discovery === true, issuer.staticKeys !== undefined].filter(Boolean).length
  if (sources !== 1) add('jwksUrl', 'an issuer has exactly one of `jwksUrl`, `discovery: true` or `staticKeys`')
  if (issuer.discovery === true && !isFetchableUrl(issuer.issuer)) add('issuer', 'discovery needs an https issuer URL (its `/.well-known/openid-configuration` is fetched)')
  const remote = issuer.jwksUrl !== undefined || issuer.discovery === true
  if (!remote && issuer.jwksCaFile !== undefined) add('jwksCaFile', '`jwksCaFile` only applies with `jwksUrl` or `discovery`')
  if (!remote && issuer.jwksTokenFile !== undefined) add('jwksTokenFile', '`jwksTokenFile` only applies with `jwksUrl` or `discovery`')
  if (issuer.jwksTokenFile !== undefined && issuer.jwksUrl !== undefined && !issuer.jwksUrl.startsWith('https:')) add('jwksTokenFile', 'a bearer token is only sent to an https JWKS URL')

  const hmac = issuer.algorithms.filter(isHmacAlgorithm)
  const secrets = (issuer.staticKeys ?? []).filter((key) => key.sharedSecretFile !== undefined)
  if (hmac.length > 0) {
    if (issuer.algorithms.some((alg) => (PUBLIC_KEY_ALGORITHMS as readonly string[]).includes(alg))) add('algorithms', 'HMAC algorithms cannot be mixed with public-key algorithms in one issuer')
    if (remote) add('algorithms', 'HMAC algorithms need `staticKeys` with `sharedSecretFile`; keys from a JWKS are public keys and never HMAC secrets')
    if (issuer.staticKeys !== undefined && secrets.length !== issuer.staticKeys.length) add('staticKeys', 'an issuer with HMAC algorithms takes shared secrets (`sharedSecretFile`) only, never a public key')
  } else if (secrets.length > 0) {
    add('staticKeys', 'a shared secret needs HMAC algorithms (HS256, HS384 or HS512) listed in `algorithms`')
  }
  if (hmac.length === 0) {
    issuer.staticKeys?.forEach((key, index) => {
      const publicKey = key.pem !== undefined ? { pem: key.pem } : (key.jwk !== undefined ? { jwk: key.jwk } : undefined)
      if (publicKey === undefined) return
      const result = toPublicJwk(publicKey)
      if ('jwk' in result && !issuer.algorithms.some((alg) => keyFitsAlgorithm(result.jwk, alg))) {
        context.addIssue({ code: 'custom', path: ['staticKeys', index], message: `no algorithm in \`algorithms\` (${issuer.algorithms.join(', ')}) can be verified with this ${result.jwk.kty} key` })
      }
    })
  }
})

const claimValue = z.union([z.string(), z.number(), z.boolean()])

/** Tokens of `issuer` whose claims have every value in `match` (a dotted path; a list means any of). */
export const ClaimRuleSchema = z.strictObject({
  issuer: issuerName,
  match: z.record(z.string().min(1), z.union([claimValue, z.array(claimValue).min(1)]))
    .refine((match) => Object.keys(match).length > 0, 'a claim rule needs at least one claim to match; an empty rule would admit every token of the issuer')
})

/** Fields a caller gets for JWTs; optional, so callers without them parse as before. */
export const jwtCallerFields = {
  /** `<issuer name>:<sub>`, e.g. `cluster:system:serviceaccount:billing:billing-api`. */
  subjects: z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}:.+$/, 'a subject is "<issuer name>:<sub>", e.g. "cluster:system:serviceaccount:billing:billing-api"')).optional(),
  /** One rule or a list; a token matching any rule is this caller. */
  claims: z.union([ClaimRuleSchema, z.array(ClaimRuleSchema).min(1)]).transform((rules) => (Array.isArray(rules) ? rules : [rules])).optional()
}

export type IssuerConfig = z.output<typeof IssuerSchema>
export type StaticKeyConfig = z.output<typeof StaticKeySchema>
export type ClaimRule = z.output<typeof ClaimRuleSchema>

type Path = Array<string | number>
const asObject = (value: unknown): Record<string, unknown> | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined)
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])

/**
 * Rules across issuers and callers, on the parsed configuration or the raw
 * input (hence the defensive reads): names and `iss` values are unique, every
 * subject and claim rule names a configured issuer, and no subject belongs to
 * two callers.
 */
export function jwtConfigProblems (root: Record<string, unknown> | undefined): Array<{ path: Path, message: string }> {
  const problems: Array<{ path: Path, message: string }> = []
  const names = new Set<unknown>()
  const issuerValues = new Set<unknown>()
  asArray(root?.issuers).forEach((entry, index) => {
    const issuer = asObject(entry)
    if (issuer === undefined) return
    if (names.has(issuer.name)) problems.push({ path: ['issuers', index, 'name'], message: `issuer "${String(issuer.name)}" is defined twice` })
    names.add(issuer.name)
    if (issuer.issuer !== undefined && issuerValues.has(issuer.issuer)) problems.push({ path: ['issuers', index, 'issuer'], message: 'two issuers share this `issuer` value; a token could not tell which one it belongs to' })
    issuerValues.add(issuer.issuer)
  })
  const knownIssuer = (name: unknown): string | undefined => (names.has(name) ? undefined : `issuer "${String(name)}" is not configured (see \`issuers\`; configured: ${[...names].map(String).join(', ') || 'none'})`)

  const subjectOwners = new Map<unknown, unknown>()
  asArray(root?.callers).forEach((entry, index) => {
    const caller = asObject(entry)
    if (caller === undefined) return
    asArray(caller.subjects).forEach((subject, subjectIndex) => {
      if (typeof subject !== 'string') return
      const separator = subject.indexOf(':')
      const problem = separator > 0 ? knownIssuer(subject.slice(0, separator)) : undefined
      if (problem !== undefined) problems.push({ path: ['callers', index, 'subjects', subjectIndex], message: problem })
      const owner = subjectOwners.get(subject)
      if (owner !== undefined && owner !== caller.name) problems.push({ path: ['callers', index, 'subjects', subjectIndex], message: `subject "${subject}" is given to two callers ("${String(owner)}" too)` })
      subjectOwners.set(subject, caller.name)
    })
    const claims = caller.claims
    const rules = Array.isArray(claims) ? claims : (claims === undefined ? [] : [claims])
    rules.forEach((rule, ruleIndex) => {
      const ruleIssuer = asObject(rule)?.issuer
      if (ruleIssuer === undefined) return
      const problem = knownIssuer(ruleIssuer)
      if (problem !== undefined) problems.push({ path: Array.isArray(claims) ? ['callers', index, 'claims', ruleIndex, 'issuer'] : ['callers', index, 'claims', 'issuer'], message: problem })
    })
  })
  return problems
}
