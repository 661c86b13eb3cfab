import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

/** A key pair an issuer signs with, and its public half as the JWKS would publish it. */
export interface SigningKey {
  alg: string
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
  publicPem: string
}

export async function createSigningKey (alg: 'RS256' | 'ES256' | 'EdDSA', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = { ...await exportJWK(publicKey), kid, use: 'sig', alg }
  return { alg, kid, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) }
}

export interface TokenOptions {
  issuer: string
  audience?: string | string[]
  subject?: string
  /** Seconds since the epoch; default: now. */
  now?: number
  /** Seconds relative to now; null leaves the claim out. */
  expiresIn?: number | null
  notBefore?: number
  claims?: JWTPayload
  /** Header kid; default the key's own. */
  kid?: string | null
}

export async function signToken (key: SigningKey, options: TokenOptions): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000)
  const jwt = new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', ...(options.kid === null ? {} : { kid: options.kid ?? key.kid }) })
    .setIssuer(options.issuer)
    .setAudience(options.audience ?? 'qlik-broker')
    .setIssuedAt(now)
  if (options.subject !== undefined) jwt.setSubject(options.subject)
  if (options.expiresIn !== null) jwt.setExpirationTime(now + (options.expiresIn ?? 600))
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore)
  return jwt.sign(key.privateKey)
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** An unsigned token (`alg: none`), as an attacker would hand-craft it. */
export function unsignedToken (payload: JWTPayload): string {
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`
}

/** The classic confusion attack: HS256 "signed" with the issuer's RSA public key (its PEM) as the HMAC secret. */
export async function hmacWithPublicKey (key: SigningKey, options: TokenOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid })
    .setIssuer(options.issuer)
    .setAudience(options.audience ?? 'qlik-broker')
    .setSubject(options.subject ?? 'attacker')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(new TextEncoder().encode(key.publicPem))
}

/** A Kubernetes projected service-account token's claims. */
export function kubernetesClaims (namespace: string, name: string): JWTPayload {
  return {
    'kubernetes.io': {
      namespace,
      serviceaccount: { name, uid: '8a5f3f6e-1c2d-4e5f-9a0b-1c2d3e4f5a6b' },
      pod: { name: `${name}-7d9c6b5f4-x2x9q`, uid: 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e' }
    }
  }
}

export interface JwksServer {
  /** The server's origin, usable as an OIDC issuer (it serves discovery). */
  url: string
  jwksUrl: string
  /** Requests per path. */
  hits: Map<string, number>
  jwksHits (): number
  /** Keys published from now on. */
  publish (keys: readonly SigningKey[] | readonly JWK[]): void
  /** Answer 503 (true), or hang up without answering ('reset'), or hold each answer this long (a number of ms). */
  fail (mode: false | true | 'reset' | number): void
  /** Holds every answer from now on until `release()`: a refresh stays in flight for as long as a test needs. */
  hold (): void
  /** Sends the held answers; resolves once they are written. */
  release (): Promise<void>
  /** The discovery document; default `{ issuer: url, jwks_uri: jwksUrl }`. */
  discovery (document: Record<string, unknown> | undefined): void
  /** Authorization headers received. */
  authorizations: string[]
  close (): Promise<void>
}

/** A real HTTP (or, given a certificate, HTTPS) JWKS and OIDC discovery server on a free loopback port. */
export async function startJwksServer (options: { tls?: { key: string, cert: string } } = {}): Promise<JwksServer> {
  let published: JWK[] = []
  let failure: false | true | 'reset' | number = false
  let discoveryDocument: Record<string, unknown> | undefined
  const hits = new Map<string, number>()
  const authorizations: string[] = []
  let holding = false
  let held: Array<() => Promise<void>> = []
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '/').split('?')[0] ?? '/'
    hits.set(path, (hits.get(path) ?? 0) + 1)
    if (request.headers.authorization !== undefined) authorizations.push(request.headers.authorization)
    if (failure === 'reset') { request.socket.destroy(); return }
    const answer = (): void => {
      if (failure === true) { response.writeHead(503).end('down'); return }
      let body: unknown
      if (path === '/openid/v1/jwks') body = { keys: published }
      else if (path === '/.well-known/openid-configuration') body = discoveryDocument ?? { issuer: url, jwks_uri: `${url}/openid/v1/jwks` }
      if (body === undefined) { response.writeHead(404).end(); return }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    }
    if (holding) held.push(async () => { answer(); if (!response.writableFinished) await once(response, 'finish') })
    else if (typeof failure === 'number') setTimeout(answer, failure).unref()
    else answer()
  }
  const server: Server = options.tls === undefined ? createServer(handler) : createHttpsServer(options.tls, handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    jwksUrl: `${url}/openid/v1/jwks`,
    hits,
    jwksHits: () => hits.get('/openid/v1/jwks') ?? 0,
    publish (keys) { published = keys.map((key) => ('publicJwk' in key ? key.publicJwk : key) as JWK) },
    fail (mode) { failure = mode },
    hold () { holding = true },
    async release () {
      holding = false
      const answers = held
      held = []
      await Promise.all(answers.map(async (send) => { await send() }))
    },
    discovery (document) { discoveryDocument = document },
    authorizations,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}
