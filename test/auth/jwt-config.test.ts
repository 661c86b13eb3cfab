import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ConfigError } from '../../src/config/config-error.js'
import { loadConfig } from '../../src/config/load-config.js'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const RSA_PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()
const RSA_PRIVATE_PEM = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const SHORT_RSA_PEM = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
const CLUSTER = { name: 'cluster', issuer: 'https://kubernetes.default.svc.cluster.local', audiences: ['qlik-broker'], jwksUrl: 'https://kubernetes.default.svc/openid/v1/jwks' }

function problemsOf (load: () => unknown): readonly string[] {
  try {
    load()
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
    return error.problems
  }
  assert.fail('expected loadConfig to throw a ConfigError')
}

function assertProblem (problems: readonly string[], pattern: RegExp): void {
  assert.ok(problems.some((problem) => pattern.test(problem)), `no problem matches ${String(pattern)} in:\n${problems.join('\n')}`)
}

const issuerProblems = (issuer: Record<string, unknown>): readonly string[] => problemsOf(() => loadConfig({}, { issuers: [issuer] }))

let dir: string
before(async () => { dir = await mkdtemp(join(tmpdir(), 'qb-jwt-config-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

await describe('JWT issuers and callers in the configuration', async () => {
  await it('reads the documented Kubernetes example from YAML with the default algorithms and skew', async () => {
    const path = join(dir, 'config.yaml')
    await writeFile(path, [
      'issuers:',
      '  - name: cluster',
      '    issuer: https://kubernetes.default.svc.cluster.local',
      '    audiences: [qlik-broker]',
      '    jwksUrl: https://kubernetes.default.svc/openid/v1/jwks',
      '    jwksCaFile: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
      '    jwksTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token',
      'callers:',
      '  - name: billing',
      '    subjects: ["cluster:system:serviceaccount:billing:billing-api"]',
      '    grants: [{ regions: [eu], actions: [tenants:read] }]',
      '  - name: reporting',
      '    claims: { issuer: cluster, match: { "kubernetes.io.namespace": reporting } }',
      '    apiKeyHashes: ["sha256:' + 'c'.repeat(64) + '"]'
    ].join('\n'))
    const config = loadConfig({ BROKER_CONFIG_FILE: path })
    assert.equal(config.issuers.length, 1)
    assert.deepEqual(config.issuers[0]?.algorithms, ['RS256', 'ES256', 'EdDSA'])
    assert.equal(config.issuers[0]?.clockSkewSeconds, 30)
    assert.deepEqual(config.callers[0]?.subjects, ['cluster:system:serviceaccount:billing:billing-api'])
    assert.deepEqual(config.callers[1]?.claims, [{ issuer: 'cluster', match: { 'kubernetes.io.namespace': 'reporting' } }], 'one rule becomes a list of one')
    assert.equal(config.callers[1]?.apiKeyHashes.length, 1, 'a caller may have API keys and JWT rules both')
    assert.ok(Object.isFrozen(config.issuers[0]))
  })

  await it('accepts the README example as it is written', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
    const section = readme.split('### JWT callers')[1] ?? ''
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1]
    assert.ok(yaml !== undefined, 'the README has a JWT callers section with a YAML example')
    const path = join(dir, 'readme.yaml')
    await writeFile(path, yaml)
    const config = loadConfig({ BROKER_CONFIG_FILE: path })
    assert.equal(config.issuers[0]?.jwksUrl, 'https://kubernetes.default.svc/openid/v1/jwks')
    assert.deepEqual(config.callers.map((caller) => caller.name), ['billing', 'reporting'])
  })

  await it('leaves callers without JWT fields as they were, with no issuers', () => {
    const config = loadConfig({}, { callers: [{ name: 'svc', grants: [] }] })
    assert.deepEqual(config.issuers, [])
    assert.deepEqual(config.callers[0], { name: 'svc', apiKeyHashes: [], grants: [] })
  })

  await it('refuses "none" and unknown algorithms with a clear message', () => {
    const problems = issuerProblems({ ...CLUSTER, algorithms: ['RS256', 'none', 'XS1'] })
    assertProblem(problems, /^issuers\.0\.algorithms\.1: "none" is never accepted/)
    assertProblem(problems, /^issuers\.0\.algorithms\.2: an algorithm is one of RS256/)
  })

  await it('refuses an HMAC algorithm with a JWKS or a public key, and a shared secret without an HMAC algorithm', () => {
    assertProblem(issuerProblems({ ...CLUSTER, algorithms: ['HS256'] }), /keys from a JWKS are public keys and never HMAC secrets/)
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'], algorithms: ['HS256'], staticKeys: [{ pem: RSA_PUBLIC_PEM }] }), /shared secrets \(`sharedSecretFile`\) only, never a public key/)
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'], algorithms: ['HS256', 'RS256'], staticKeys: [{ sharedSecretFile: '/s' }] }), /cannot be mixed/)
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'], staticKeys: [{ sharedSecretFile: '/s' }] }), /a shared secret needs HMAC algorithms/)
    const ok = loadConfig({}, { issuers: [{ name: 'x', issuer: 'urn:x', audiences: ['a'], algorithms: ['HS256'], staticKeys: [{ sharedSecretFile: '/s' }] }] })
    assert.deepEqual(ok.issuers[0]?.algorithms, ['HS256'])
  })

  await it('refuses an issuer without a required audience, or with no or two key sources', () => {
    assertProblem(issuerProblems({ ...CLUSTER, audiences: [] }), /^issuers\.0\.audiences: at least one audience is required/)
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'] }), /exactly one of `jwksUrl`, `discovery: true` or `staticKeys`/)
    assertProblem(issuerProblems({ ...CLUSTER, staticKeys: [{ pem: RSA_PUBLIC_PEM }] }), /exactly one of/)
    assertProblem(issuerProblems({ ...CLUSTER, discovery: true, jwksUrl: undefined, issuer: 'kubernetes/serviceaccount' }), /discovery needs an https issuer URL/)
  })

  await it('refuses a plain-http JWKS URL except to a loopback address', () => {
    assertProblem(issuerProblems({ ...CLUSTER, jwksUrl: 'http://kubernetes.default.svc/openid/v1/jwks' }), /^issuers\.0\.jwksUrl: an https URL/)
    assert.equal(loadConfig({}, { issuers: [{ ...CLUSTER, jwksUrl: 'http://127.0.0.1:8443/jwks' }] }).issuers[0]?.jwksUrl, 'http://127.0.0.1:8443/jwks')
    assertProblem(issuerProblems({ ...CLUSTER, jwksUrl: 'http://127.0.0.1:8443/jwks', jwksTokenFile: '/t' }), /bearer token is only sent to an https JWKS URL/)
  })

  await it('refuses private keys, short RSA keys, symmetric JWKs and keys no listed algorithm can use', () => {
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'], staticKeys: [{ pem: RSA_PRIVATE_PEM }] }), /staticKeys\.0\.pem: this key is a private key/)
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'], staticKeys: [{ pem: SHORT_RSA_PEM }] }), /shorter than 2048 bits/)
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'], staticKeys: [{ pem: 'hello' }] }), /not a PEM public key or certificate/)
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'], staticKeys: [{ jwk: { kty: 'oct', k: 'c2VjcmV0' } }] }), /symmetric JWK/)
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'], algorithms: ['ES256'], staticKeys: [{ pem: RSA_PUBLIC_PEM }] }), /no algorithm in `algorithms` \(ES256\) can be verified with this RSA key/)
    assertProblem(issuerProblems({ name: 'x', issuer: 'urn:x', audiences: ['a'], staticKeys: [{ pem: RSA_PUBLIC_PEM, sharedSecretFile: '/s' }] }), /exactly one of `pem`, `jwk`/)
  })

  await it('lists every problem of issuers and callers at once, naming the file', async () => {
    const path = join(dir, 'bad.yaml')
    await writeFile(path, JSON.stringify({
      issuers: [
        CLUSTER,
        { ...CLUSTER, jwksUrl: 'https://other/jwks' },
        { name: 'Bad Name', issuer: 'urn:y', audiences: ['a'], staticKeys: [{ pem: RSA_PUBLIC_PEM }], clockSkewSeconds: 3600 }
      ],
      callers: [
        { name: 'a', subjects: ['cluster:system:serviceaccount:ns:a', 'ghost:someone', 'no-issuer-prefix'], claims: { issuer: 'phantom', match: { 'kubernetes.io.namespace': 'ns' } } },
        { name: 'b', subjects: ['cluster:system:serviceaccount:ns:a'], claims: [{ issuer: 'cluster', match: {} }] }
      ]
    }))
    const problems = problemsOf(() => loadConfig({ BROKER_CONFIG_FILE: path }))
    const file = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    for (const pattern of [
      new RegExp(`^${file}: issuers\\.1\\.name: issuer "cluster" is defined twice$`),
      new RegExp(`^${file}: issuers\\.1\\.issuer: two issuers share this \`issuer\` value`),
      new RegExp(`^${file}: issuers\\.2\\.name: an issuer name is lowercase`),
      new RegExp(`^${file}: issuers\\.2\\.clockSkewSeconds: `),
      new RegExp(`^${file}: callers\\.0\\.subjects\\.1: issuer "ghost" is not configured`),
      new RegExp(`^${file}: callers\\.0\\.subjects\\.2: a subject is "<issuer name>:<sub>"`),
      new RegExp(`^${file}: callers\\.0\\.claims\\.issuer: issuer "phantom" is not configured`),
      new RegExp(`^${file}: callers\\.1\\.subjects\\.0: subject "cluster:system:serviceaccount:ns:a" is given to two callers \\("a" too\\)$`),
      new RegExp(`^${file}: callers\\.1\\.claims\\.0\\.match: a claim rule needs at least one claim`)
    ]) assertProblem(problems, pattern)
  })
})
