import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { SignJWT } from 'jose'
import { createApiKey } from '../../src/auth/api-keys.js'
import { claimAt } from '../../src/auth/jwt-caller-map.js'
import { IssuerSchema, keyFitsAlgorithm, type PublicJwk } from '../../src/auth/jwt-config.js'
import { keyFits, parseJwks } from '../../src/auth/jwt-keys.js'
import { createJwtVerifier, type JwtVerifier, type JwtVerifierOptions } from '../../src/auth/jwt-verifier.js'
import { CallerSchema } from '../../src/config/schema.js'
import { BrokerError } from '../../src/http/broker-error.js'
import { createSigningKey, hmacWithPublicKey, kubernetesClaims, signToken, startJwksServer, unsignedToken, type JwksServer, type SigningKey } from './jwt-support.js'

const CLUSTER = 'https://kubernetes.default.svc.cluster.local'
const BILLING_SA = 'system:serviceaccount:billing:billing-api'
const GRANTS = [{ regions: ['eu'], actions: ['tenants:read'] }]

const callers = [
  CallerSchema.parse({ name: 'billing', subjects: [`cluster:${BILLING_SA}`], grants: GRANTS }),
  CallerSchema.parse({ name: 'team-a', claims: { issuer: 'cluster', match: { 'kubernetes.io.namespace': 'team-a' } }, grants: GRANTS, quota: '100/60s' }),
  CallerSchema.parse({ name: 'team-b', claims: [{ issuer: 'cluster', match: { 'kubernetes.io.namespace': ['team-b', 'team-b-canary'], 'kubernetes.io.serviceaccount.name': 'worker' } }] }),
  CallerSchema.parse({ name: 'overlap', claims: { issuer: 'cluster', match: { 'kubernetes.io.namespace': 'shared' } } }),
  CallerSchema.parse({ name: 'overlap-too', claims: { issuer: 'cluster', match: { 'kubernetes.io.serviceaccount.name': 'shared-sa' } } }),
  CallerSchema.parse({ name: 'static-app', subjects: ['static:app-1', 'hmac:app-2'] }),
  CallerSchema.parse({ name: 'oidc-app', subjects: ['oidc:app-3'] })
]

let rsa: SigningKey
let rsaNext: SigningKey
let ec: SigningKey
let ed: SigningKey
let stranger: SigningKey
let dir: string

before(async () => {
  [rsa, rsaNext, ec, ed, stranger] = await Promise.all([
    createSigningKey('RS256', 'rsa-1'), createSigningKey('RS256', 'rsa-2'), createSigningKey('ES256', 'ec-1'), createSigningKey('EdDSA', 'ed-1'), createSigningKey('RS256', 'rsa-1')
  ])
  dir = await mkdtemp(join(tmpdir(), 'qb-jwt-'))
})
after(async () => { await rm(dir, { recursive: true, force: true }) })

interface Harness {
  server: JwksServer
  verifier: JwtVerifier
  /** Moves the verifier's clock (and the tokens' notion of now) forward. */
  advance (seconds: number): void
  nowSeconds (): number
  token (key: SigningKey, options?: Partial<Parameters<typeof signToken>[1]>): Promise<string>
}

async function harness (t: TestContext, options: { issuer?: Record<string, unknown>, keys?: SigningKey[], verifier?: Partial<JwtVerifierOptions> } = {}): Promise<Harness> {
  const server = await startJwksServer()
  server.publish(options.keys ?? [rsa, ec, ed])
  let clock = Date.now()
  const issuer = IssuerSchema.parse({ name: 'cluster', issuer: CLUSTER, audiences: ['qlik-broker'], jwksUrl: server.jwksUrl, ...options.issuer })
  const verifier = createJwtVerifier({ issuers: [issuer], callers, now: () => clock, ...options.verifier })
  t.after(async () => {
    await verifier.close()
    await server.close()
  })
  const nowSeconds = (): number => Math.floor(clock / 1000)
  return {
    server,
    verifier,
    advance (seconds) { clock += seconds * 1000 },
    nowSeconds,
    token: async (key, tokenOptions = {}) => signToken(key, { issuer: CLUSTER, subject: BILLING_SA, now: nowSeconds(), ...tokenOptions })
  }
}

/** Refused with QB_UNAUTHENTICATED, a detail matching `pattern`, and nothing of the token in it. */
async function assertRefused (verifier: JwtVerifier, token: string, pattern: RegExp): Promise<void> {
  await assert.rejects(verifier.verify(token), (error: unknown) => {
    assert.ok(error instanceof BrokerError, `expected a BrokerError, got ${String(error)}`)
    assert.equal(error.code, 'QB_UNAUTHENTICATED')
    assert.equal(error.statusCode, 401)
    assert.match(error.message, pattern)
    assert.match(error.headers['www-authenticate'] ?? '', /error="invalid_token"/)
    for (const part of [token, ...token.split('.')].filter((value) => value.length >= 8)) {
      assert.equal(error.message.includes(part), false, 'the refusal repeats part of the token')
    }
    return true
  })
}

await describe('createJwtVerifier', async () => {
  await describe('valid tokens', async () => {
    await it('returns the caller mapped by subject, with its grants, when an RS256 token from the JWKS is valid', async (t) => {
      const h = await harness(t)
      const caller = await h.verifier.verify(await h.token(rsa))
      assert.deepEqual(caller, { name: 'billing', via: 'jwt', grants: callers[0]?.grants })
      assert.ok(Object.isFrozen(caller))
      assert.equal(h.server.jwksHits(), 1)
    })

    await it('accepts ES256 and EdDSA tokens by default and fetches the key set only once for them all', async (t) => {
      const h = await harness(t)
      for (const key of [ec, ed, rsa, ec]) assert.equal((await h.verifier.verify(await h.token(key)))?.name, 'billing')
      assert.equal(h.server.jwksHits(), 1, 'the key set is cached')
    })

    await it('maps a Kubernetes service-account token by subject and by namespace claim', async (t) => {
      const h = await harness(t)
      const bySubject = await h.token(rsa, { subject: BILLING_SA, audience: ['qlik-broker'], claims: kubernetesClaims('billing', 'billing-api') })
      assert.equal((await h.verifier.verify(bySubject))?.name, 'billing')
      const byNamespace = await h.token(rsa, { subject: 'system:serviceaccount:team-a:reporter', audience: ['qlik-broker', 'vault'], claims: kubernetesClaims('team-a', 'reporter') })
      assert.deepEqual(await h.verifier.verify(byNamespace), { name: 'team-a', via: 'jwt', grants: callers[1]?.grants, quota: { requests: 100, windowMs: 60_000 } }, 'with its own quota')
      const byTwoClaims = await h.token(ec, { subject: 'system:serviceaccount:team-b-canary:worker', claims: kubernetesClaims('team-b-canary', 'worker') })
      assert.equal((await h.verifier.verify(byTwoClaims))?.name, 'team-b')
    })

    await it('maps tokens to the new callers when the callers are replaced, keeping the cached keys', async (t) => {
      const h = await harness(t)
      const token = await h.token(rsa, { subject: 'system:serviceaccount:late:newcomer' })
      await assertRefused(h.verifier, token, /not a broker caller/)
      h.verifier.setCallers([...callers, CallerSchema.parse({ name: 'newcomer', subjects: ['cluster:system:serviceaccount:late:newcomer'] })])
      assert.equal((await h.verifier.verify(token))?.name, 'newcomer')
      h.verifier.setCallers([])
      await assertRefused(h.verifier, await h.token(rsa), /not a broker caller/)
      assert.equal(h.server.jwksHits(), 1)
    })

    await it('prefers the exact subject when a token also matches a claim rule', async (t) => {
      const h = await harness(t)
      const token = await h.token(rsa, { subject: BILLING_SA, claims: kubernetesClaims('team-a', 'billing-api') })
      assert.equal((await h.verifier.verify(token))?.name, 'billing')
    })

    await it('accepts a token expired or not yet valid by less than the clock skew', async (t) => {
      const h = await harness(t)
      assert.equal((await h.verifier.verify(await h.token(rsa, { expiresIn: -20 })))?.name, 'billing', 'expired 20 s ago, skew 30 s')
      assert.equal((await h.verifier.verify(await h.token(rsa, { notBefore: 20 })))?.name, 'billing', 'valid in 20 s, skew 30 s')
    })
  })

  await describe('refused tokens', async () => {
    await it('refuses a token whose audience is not a configured one', async (t) => {
      const h = await harness(t)
      await assertRefused(h.verifier, await h.token(rsa, { audience: ['vault', 'https://kubernetes.default.svc'] }), /audience is not one the broker accepts/)
    })

    await it('refuses a token expired beyond the clock skew', async (t) => {
      const h = await harness(t)
      await assertRefused(h.verifier, await h.token(rsa, { expiresIn: -31 }), /has expired/)
      const strict = await harness(t, { issuer: { clockSkewSeconds: 0 } })
      await assertRefused(strict.verifier, await strict.token(rsa, { expiresIn: -2 }), /has expired/)
    })

    await it('refuses a token whose nbf is in the future beyond the clock skew', async (t) => {
      const h = await harness(t)
      await assertRefused(h.verifier, await h.token(rsa, { notBefore: 120 }), /not valid yet/)
    })

    await it('refuses a token without an expiry', async (t) => {
      const h = await harness(t)
      await assertRefused(h.verifier, await h.token(rsa, { expiresIn: null }), /no expiry/)
    })

    await it('refuses a token from an issuer that is not configured, without fetching any keys', async (t) => {
      const h = await harness(t)
      await assertRefused(h.verifier, await signToken(rsa, { issuer: 'https://evil.example.com', subject: BILLING_SA }), /issuer \(iss\) is not one the broker trusts/)
      assert.equal(h.server.jwksHits(), 0)
    })

    await it('refuses an unsigned token (alg: none)', async (t) => {
      const h = await harness(t)
      const now = h.nowSeconds()
      await assertRefused(h.verifier, unsignedToken({ iss: CLUSTER, sub: BILLING_SA, aud: 'qlik-broker', iat: now, exp: now + 600 }), /algorithm is not accepted/)
      assert.equal(h.server.jwksHits(), 0)
    })

    await it('refuses HS256 signed with the issuer\'s RSA public key (PEM) as the HMAC secret', async (t) => {
      const h = await harness(t)
      assert.equal((await h.verifier.verify(await h.token(rsa)))?.name, 'billing', 'the genuine key works')
      await assertRefused(h.verifier, await hmacWithPublicKey(rsa, { issuer: CLUSTER, subject: BILLING_SA }), /algorithm is not accepted/)
    })

    await it('never lets a public key verify an HMAC algorithm, whatever the JWK claims', () => {
      const jwk = rsa.publicJwk as PublicJwk
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        assert.equal(keyFitsAlgorithm(jwk, alg), false)
        assert.equal(keyFitsAlgorithm({ ...jwk, alg }, alg), false)
        assert.equal(keyFits({ type: 'public', kid: 'k', jwk: { ...jwk, alg } }, alg), false)
      }
      assert.equal(keyFits({ type: 'secret', kid: 'k', secret: new Uint8Array(32) }, 'RS256'), false, 'nor a secret a public-key algorithm')
      assert.equal(keyFitsAlgorithm(ec.publicJwk as PublicJwk, 'ES384'), false, 'the curve must fit')
      assert.equal(keyFitsAlgorithm(rsa.publicJwk as PublicJwk, 'PS256'), false, 'a JWK that names its alg is used for that alg only')
    })

    await it('refuses a token signed by another key under a published key id', async (t) => {
      const h = await harness(t)
      await assertRefused(h.verifier, await h.token(stranger), /signature does not verify/)
    })

    await it('refuses a token whose key id is unknown even after fetching the key set again', async (t) => {
      const h = await harness(t)
      assert.equal((await h.verifier.verify(await h.token(rsa)))?.name, 'billing')
      h.advance(31)
      await assertRefused(h.verifier, await h.token(stranger, { kid: 'not-published' }), /has the JWT's key id/)
      assert.equal(h.server.jwksHits(), 2, 'one fetch, then one refresh for the unknown kid')
    })

    await it('refuses a token that does not decode, and a token with a tampered payload', async (t) => {
      const h = await harness(t)
      await assertRefused(h.verifier, 'eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln', /does not decode/)
      const [header, , signature] = (await h.token(rsa)).split('.')
      const forged = Buffer.from(JSON.stringify({ iss: CLUSTER, sub: 'system:serviceaccount:kube-system:admin', aud: 'qlik-broker', exp: h.nowSeconds() + 600 })).toString('base64url')
      await assertRefused(h.verifier, `${header ?? ''}.${forged}.${signature ?? ''}`, /signature does not verify/)
    })

    await it('refuses a valid token whose subject is no caller, naming neither the subject nor the token', async (t) => {
      const h = await harness(t)
      await assertRefused(h.verifier, await h.token(rsa, { subject: 'system:serviceaccount:other:stranger', claims: kubernetesClaims('other', 'stranger') }),
        /^the JWT is valid, but its subject is not a broker caller$/)
    })

    await it('refuses a token that matches the claim rules of two callers rather than pick one', async (t) => {
      const h = await harness(t)
      await assertRefused(h.verifier, await h.token(rsa, { subject: 'system:serviceaccount:shared:shared-sa', claims: kubernetesClaims('shared', 'shared-sa') }), /^the JWT is valid, but its subject matches the claim rules of several callers; the broker configuration must make them exclusive$/)
    })

    await it('leaves API keys and credentials that are not JWTs to other verifiers', async (t) => {
      const h = await harness(t)
      for (const credential of [createApiKey().key, 'qbk_a.b.c', 'not-a-jwt', '', 'a.b']) assert.equal(await h.verifier.verify(credential), undefined)
      assert.equal(h.server.jwksHits(), 0)
    })
  })

  await describe('the JWKS cache', async () => {
    await it('fetches again and accepts a token whose kid was rotated in at the JWKS server', async (t) => {
      const h = await harness(t, { keys: [rsa] })
      assert.equal((await h.verifier.verify(await h.token(rsa)))?.name, 'billing')
      h.server.publish([rsaNext])
      h.advance(31)
      assert.equal((await h.verifier.verify(await h.token(rsaNext)))?.name, 'billing', 'unknown kid → refresh → accepted')
      assert.equal(h.server.jwksHits(), 2)
      await assertRefused(h.verifier, await h.token(rsa), /has the JWT's key id/)
      assert.equal(h.server.jwksHits(), 2, 'the rotated-out key is gone, and no refresh within the cool-down')
    })

    await it('fetches the key set at most once per 30 s whatever burst of unknown key ids arrives', async (t) => {
      const h = await harness(t)
      const burst = async (): Promise<void> => {
        const tokens = await Promise.all(Array.from({ length: 25 }, async (_, index) => h.token(stranger, { kid: `bogus-${index}-${Math.random()}` })))
        const results = await Promise.allSettled(tokens.map(async (token) => h.verifier.verify(token)))
        assert.ok(results.every((result) => result.status === 'rejected'))
      }
      await burst()
      assert.equal(h.server.jwksHits(), 1, 'a cold burst shares one fetch')
      h.advance(10)
      await burst()
      await burst()
      assert.equal(h.server.jwksHits(), 1, 'no refresh within 30 s of the last fetch')
      h.advance(21)
      await burst()
      assert.equal(h.server.jwksHits(), 2, 'one refresh once the window has passed')
      assert.equal((await h.verifier.verify(await h.token(ec)))?.name, 'billing', 'known keys keep working throughout')
      assert.equal(h.server.jwksHits(), 2)
    })

    await it('keeps accepting tokens with cached keys when the JWKS server goes down after a first fetch', async (t) => {
      const h = await harness(t, { verifier: { jwks: { timeoutMs: 300 } } })
      assert.equal((await h.verifier.verify(await h.token(rsa)))?.name, 'billing')
      for (const mode of [true, 'reset', 2_000] as const) {
        h.server.fail(mode)
        h.advance(3_600)
        assert.equal((await h.verifier.verify(await h.token(rsa)))?.name, 'billing', `cached keys still verify (server ${String(mode)})`)
        await assertRefused(h.verifier, await h.token(stranger, { kid: 'new-kid' }), /has the JWT's key id/)
      }
      assert.ok(h.server.jwksHits() >= 2, 'stale keys were refreshed in the background, unsuccessfully')
      h.server.fail(false)
      h.server.publish([rsaNext])
      h.advance(31)
      assert.equal((await h.verifier.verify(await h.token(rsaNext)))?.name, 'billing', 'recovers when the server is back')
    })

    await it('serves stale keys at once and swaps in the set a background refresh fetched', async (t) => {
      const h = await harness(t, { keys: [rsa] })
      assert.equal((await h.verifier.verify(await h.token(rsa)))?.name, 'billing')
      h.server.publish([rsaNext])
      // The server holds its answer: the refresh stays in flight until released,
      // so a verify that waited for it could not settle before the release.
      h.server.hold()
      h.advance(601)
      const token = await h.token(rsa)
      const verified = await Promise.race([
        h.verifier.verify(token),
        new Promise<'waited'>((resolve) => { setTimeout(() => { resolve('waited') }, 5_000).unref() })
      ])
      assert.ok(verified !== 'waited', 'the cached set verifies without waiting for the refresh')
      assert.equal(verified?.name, 'billing', 'the cached set still verifies')
      // The background refresh reaches the server (and waits there, held).
      for (const deadline = Date.now() + 5_000; h.server.jwksHits() < 2 && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 10))
      assert.equal(h.server.jwksHits(), 2, 'the refresh was asked for')
      await h.server.release()
      // The refreshed set is swapped in once its answer is read: the old key is then refused.
      let refusal: unknown
      const deadline = Date.now() + 5_000
      while (refusal === undefined && Date.now() < deadline) {
        refusal = await h.verifier.verify(await h.token(rsa)).then(() => undefined, (error: unknown) => error)
        if (refusal === undefined) await new Promise((resolve) => setTimeout(resolve, 10))
      }
      assert.ok(refusal !== undefined, 'the refreshed set replaced the cached one')
      await assertRefused(h.verifier, await h.token(rsa), /has the JWT's key id/)
      assert.equal((await h.verifier.verify(await h.token(rsaNext)))?.name, 'billing')
      assert.equal(h.server.jwksHits(), 2, 'the key removed at the server is gone without another fetch')
    })

    await it('refuses tokens, without hammering the server, while the key set was never fetched', async (t) => {
      const h = await harness(t, { verifier: { jwks: { timeoutMs: 200 } } })
      h.server.fail(true)
      await assertRefused(h.verifier, await h.token(rsa), /signing keys of the JWT issuer are not available right now/)
      await assertRefused(h.verifier, await h.token(rsa), /not available right now/)
      assert.equal(h.server.jwksHits(), 1)
      h.server.fail(1_000)
      h.advance(31)
      const started = Date.now()
      await assertRefused(h.verifier, await h.token(rsa), /not available right now/)
      assert.ok(Date.now() - started < 900, 'a fetch gives up after its timeout')
      h.server.fail(false)
      h.advance(31)
      assert.equal((await h.verifier.verify(await h.token(rsa)))?.name, 'billing')
    })

    await it('ignores keys in the set that cannot verify signatures: secrets, private keys, encryption keys', () => {
      const keys = parseJwks({
        keys: [
          { kty: 'oct', k: Buffer.from(rsa.publicPem).toString('base64url'), kid: 'rsa-1', alg: 'HS256' },
          { ...rsa.publicJwk, kid: 'enc', use: 'enc' },
          { ...ec.publicJwk, kid: 'private', d: 'AAAA' },
          { kty: 'RSA', kid: 'junk' },
          'junk',
          rsa.publicJwk
        ]
      })
      assert.deepEqual(keys.map((key) => key.kid), ['rsa-1'])
      assert.equal(keys[0]?.type, 'public')
      assert.throws(() => parseJwks({ nokeys: [] }), /no "keys" array/)
    })
  })

  await describe('a Kubernetes-style JWKS endpoint over TLS', async () => {
    await it('trusts the CA in jwksCaFile and sends the token in jwksTokenFile, re-read at every fetch', async (t) => {
      const cert = join(dir, 'jwks-cert.pem')
      const certKey = join(dir, 'jwks-key.pem')
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
          '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', certKey, '-out', cert], { stdio: 'ignore' })
      } catch {
        t.skip('openssl is needed to make a test certificate')
        return
      }
      const server = await startJwksServer({ tls: { key: await readFile(certKey, 'utf8'), cert: await readFile(cert, 'utf8') } })
      t.after(async () => { await server.close() })
      server.publish([rsa])
      const tokenFile = join(dir, 'broker-sa-token')
      await writeFile(tokenFile, 'broker-service-account-token-1\n')
      let clock = Date.now()
      const issuer = IssuerSchema.parse({ name: 'cluster', issuer: CLUSTER, audiences: ['qlik-broker'], jwksUrl: server.jwksUrl, jwksCaFile: cert, jwksTokenFile: tokenFile })
      const verifier = createJwtVerifier({ issuers: [issuer], callers, now: () => clock })
      t.after(async () => { await verifier.close() })
      assert.equal((await verifier.verify(await signToken(rsa, { issuer: CLUSTER, subject: BILLING_SA })))?.name, 'billing')
      await writeFile(tokenFile, 'broker-service-account-token-2')
      clock += 31_000
      await assertRefused(verifier, await signToken(stranger, { issuer: CLUSTER, subject: BILLING_SA, kid: 'unknown' }), /key id/)
      assert.deepEqual(server.authorizations, ['Bearer broker-service-account-token-1', 'Bearer broker-service-account-token-2'])

      const untrusting = createJwtVerifier({ issuers: [IssuerSchema.parse({ ...issuer, jwksCaFile: undefined, jwksTokenFile: undefined })], callers })
      t.after(async () => { await untrusting.close() })
      await assertRefused(untrusting, await signToken(rsa, { issuer: CLUSTER, subject: BILLING_SA }), /not available right now/)
      assert.throws(() => createJwtVerifier({ issuers: [IssuerSchema.parse({ ...issuer, jwksCaFile: join(dir, 'missing.pem') })], callers }), /issuer "cluster": cannot read jwksCaFile .*missing\.pem \(ENOENT\)/)
    })
  })

  await describe('issuers without a JWKS URL', async () => {
    await it('finds the JWKS through OIDC discovery, and refuses a discovery document naming another issuer', async (t) => {
      const server = await startJwksServer()
      t.after(async () => { await server.close() })
      server.publish([ec])
      const issuer = IssuerSchema.parse({ name: 'oidc', issuer: server.url, audiences: ['qlik-broker'], discovery: true })
      const verifier = createJwtVerifier({ issuers: [issuer], callers })
      t.after(async () => { await verifier.close() })
      assert.equal((await verifier.verify(await signToken(ec, { issuer: server.url, subject: 'app-3' })))?.name, 'oidc-app')
      assert.equal(server.hits.get('/.well-known/openid-configuration'), 1)
      assert.equal(server.jwksHits(), 1)

      const other = await startJwksServer()
      t.after(async () => { await other.close() })
      other.publish([ec])
      other.discovery({ issuer: 'https://someone-else.example.com', jwks_uri: other.jwksUrl })
      const misled = createJwtVerifier({ issuers: [IssuerSchema.parse({ name: 'oidc', issuer: other.url, audiences: ['qlik-broker'], discovery: true })], callers })
      t.after(async () => { await misled.close() })
      await assertRefused(misled, await signToken(ec, { issuer: other.url, subject: 'app-3' }), /not available right now/)
      assert.equal(other.jwksHits(), 0)
    })

    await it('verifies with static PEM and JWK keys', async (t) => {
      const issuer = IssuerSchema.parse({ name: 'static', issuer: 'urn:static', audiences: ['qlik-broker'], staticKeys: [{ pem: rsa.publicPem, kid: 'rsa-1' }, { jwk: ed.publicJwk }] })
      const verifier = createJwtVerifier({ issuers: [issuer], callers })
      t.after(async () => { await verifier.close() })
      assert.equal((await verifier.verify(await signToken(rsa, { issuer: 'urn:static', subject: 'app-1' })))?.name, 'static-app')
      assert.equal((await verifier.verify(await signToken(ed, { issuer: 'urn:static', subject: 'app-1' })))?.name, 'static-app')
      assert.equal((await verifier.verify(await signToken(ed, { issuer: 'urn:static', subject: 'app-1', kid: null })))?.name, 'static-app', 'no kid: the fitting keys are tried')
      await assertRefused(verifier, await signToken(stranger, { issuer: 'urn:static', subject: 'app-1' }), /signature does not verify/)
      await assertRefused(verifier, await hmacWithPublicKey(rsa, { issuer: 'urn:static', subject: 'app-1' }), /algorithm is not accepted/)
    })

    await it('verifies HS256 only with an explicitly configured shared secret', async (t) => {
      const secretFile = join(dir, 'hmac-secret')
      const secret = 'a-shared-secret-of-at-least-32-bytes!'
      await writeFile(secretFile, `${secret}\n`)
      const issuer = IssuerSchema.parse({ name: 'hmac', issuer: 'urn:hmac', audiences: ['qlik-broker'], algorithms: ['HS256'], staticKeys: [{ sharedSecretFile: secretFile }] })
      const verifier = createJwtVerifier({ issuers: [issuer], callers })
      t.after(async () => { await verifier.close() })
      const now = Math.floor(Date.now() / 1000)
      const sign = async (key: string): Promise<string> => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('urn:hmac').setAudience('qlik-broker').setSubject('app-2').setExpirationTime(now + 60).sign(new TextEncoder().encode(key))
      assert.equal((await verifier.verify(await sign(secret)))?.name, 'static-app')
      await assertRefused(verifier, await sign('another-secret-of-at-least-32-bytes!!'), /signature does not verify/)
      await assertRefused(verifier, await signToken(rsa, { issuer: 'urn:hmac', subject: 'app-2' }), /algorithm is not accepted/)

      await writeFile(secretFile, 'short')
      assert.throws(() => createJwtVerifier({ issuers: [issuer], callers }), /shorter than 32 bytes/)
    })
  })

  await describe('claimAt', async () => {
    await it('reads dotted paths through claim names that contain dots', () => {
      const claims = { 'kubernetes.io': { namespace: 'ns', serviceaccount: { name: 'sa' } }, a: { b: 1 }, 'a.b': 2, groups: ['x'] }
      assert.equal(claimAt(claims, 'kubernetes.io.namespace'), 'ns')
      assert.equal(claimAt(claims, 'kubernetes.io.serviceaccount.name'), 'sa')
      assert.equal(claimAt(claims, 'a.b'), 2, 'the longest name wins')
      assert.deepEqual(claimAt(claims, 'groups'), ['x'])
      assert.equal(claimAt(claims, 'kubernetes.io.missing'), undefined)
      assert.equal(claimAt(claims, 'groups.0'), undefined, 'no indexing into lists')
    })
  })
})

await describe('issue 10 §13: a JWT\'s lifetime is bounded per issuer', async () => {
  await it('refuses a token expiring in year 9999, and one living longer than the issuer\'s maximum', async (t) => {
    const h = await harness(t)
    await assertRefused(h.verifier, await h.token(rsa, { expiresIn: 253_402_300_799 - h.nowSeconds() }), /lives longer than the broker accepts for its issuer/)
    await assertRefused(h.verifier, await h.token(rsa, { expiresIn: 86_400 + 31 }), /lives longer/)
    assert.equal((await h.verifier.verify(await h.token(rsa, { expiresIn: 86_400 })))?.name, 'billing', 'a day is the default maximum')
  })

  await it('measures from iat, and from now when the token has none', async (t) => {
    const h = await harness(t, { issuer: { maxLifetimeSeconds: 3_600, clockSkewSeconds: 0 } })
    assert.equal((await h.verifier.verify(await h.token(rsa, { expiresIn: 3_600 })))?.name, 'billing')
    // Issued two hours ago for three: an hour left, but a three-hour token.
    await assertRefused(h.verifier, await h.token(rsa, { now: h.nowSeconds() - 7_200, expiresIn: 10_800 }), /lives longer/)
    const noIat = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: rsa.kid }).setIssuer(CLUSTER).setAudience('qlik-broker').setSubject(BILLING_SA).setExpirationTime(h.nowSeconds() + 7_200).sign(rsa.privateKey)
    await assertRefused(h.verifier, noIat, /lives longer/)
  })

  await it('keeps the configured maximum within bounds', () => {
    const base = { name: 'cluster', issuer: CLUSTER, audiences: ['qlik-broker'], jwksUrl: 'https://example.com/jwks' }
    assert.equal(IssuerSchema.parse(base).maxLifetimeSeconds, 86_400)
    assert.throws(() => IssuerSchema.parse({ ...base, maxLifetimeSeconds: 10 * 365 * 86_400 }))
  })
})
