import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { createApiKey } from '../../src/auth/api-keys.js'
import { bearer, http, type HttpResult } from '../support/http.js'
import { assertNoLeak } from '../support/leaks.js'
import { CALLER_GRANTS, sensitiveValues, startStack, type Stack } from '../support/stack.js'
import { createSigningKey, hmacWithPublicKey, kubernetesClaims, signToken, startJwksServer, unsignedToken, type JwksServer, type SigningKey } from './jwt-support.js'

const CLUSTER = 'https://kubernetes.default.svc.cluster.local'
const READS_EU = [{ regions: ['eu'], actions: ['tenants:read'], tenantApi: ['GET /api/v1/users/**'] }]

let dir: string
let key: SigningKey
let jwks: JwksServer

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qb-jwt-e2e-'))
  key = await createSigningKey('RS256', 'cluster-key-1')
  jwks = await startJwksServer()
  jwks.publish([key])
})
after(async () => {
  await jwks.close()
  await rm(dir, { recursive: true, force: true })
})

/** A broker whose config file trusts the test cluster, with JWT callers beside the stack's API-key callers. */
async function jwtStack (t: TestContext): Promise<Stack> {
  const configFile = join(dir, `config-${Date.now()}-${Math.random()}.yaml`)
  await writeFile(configFile, [
    'issuers:',
    '  - name: cluster',
    `    issuer: ${CLUSTER}`,
    '    audiences: [qlik-broker]',
    `    jwksUrl: ${jwks.jwksUrl}`,
    '    algorithms: [RS256]',
    '    clockSkewSeconds: 30'
  ].join('\n'))
  return startStack(t, {
    env: { BROKER_CONFIG_FILE: configFile },
    callers: (hashes) => [
      { name: 'admin', apiKeyHashes: [hashes.admin], grants: CALLER_GRANTS.admin },
      { name: 'billing', subjects: ['cluster:system:serviceaccount:billing:billing-api'], grants: READS_EU },
      { name: 'team-a', claims: { issuer: 'cluster', match: { 'kubernetes.io.namespace': 'team-a' } }, grants: READS_EU },
      { name: 'idle', subjects: ['cluster:system:serviceaccount:idle:idle'] },
      { name: 'both', apiKeyHashes: [hashes.reader], subjects: ['cluster:system:serviceaccount:both:svc'], grants: READS_EU }
    ]
  })
}

async function serviceAccountToken (namespace: string, name: string, options: Partial<Parameters<typeof signToken>[1]> = {}): Promise<string> {
  return signToken(key, { issuer: CLUSTER, subject: `system:serviceaccount:${namespace}:${name}`, audience: ['qlik-broker'], claims: kubernetesClaims(namespace, name), ...options })
}

function assertUnauthenticated (result: HttpResult, detail: RegExp, token: string): void {
  assert.equal(result.status, 401, result.text)
  assert.match(String(result.headers['content-type']), /^application\/problem\+json/)
  assert.match(String(result.headers['www-authenticate']), /^Bearer realm="qlik-broker"/)
  const body = result.json<{ code: string, detail: string, errors: Array<{ code: string }> }>()
  assert.equal(body.code, 'QB_UNAUTHENTICATED')
  assert.equal(body.errors[0]?.code, 'QB_UNAUTHENTICATED')
  assert.match(body.detail, detail)
  for (const part of [token, ...token.split('.')].filter((value) => value.length >= 8)) assert.equal(result.text.includes(part), false, 'the problem repeats the token')
}

await describe('JWT callers through the broker', async () => {
  await it('lets Kubernetes service accounts in by subject and by namespace claim, under their grants, beside API keys', async (t) => {
    const stack = await jwtStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const tokens: string[] = []
    const as = async (token: string, method: string, path: string, body?: unknown): Promise<HttpResult> => {
      tokens.push(token)
      // The tenant was not created through the broker: its hostname places it (issue 9 §1).
      return http(stack.url, method, path, { headers: { ...bearer(token), 'qlik-tenant-hostname': tenant.hostnames[0] ?? '' }, ...(body === undefined ? {} : { body }) })
    }

    const billing = await serviceAccountToken('billing', 'billing-api')
    const read = await as(billing, 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`)
    assert.equal(read.status, 200, read.text)
    assert.equal(read.json<{ id: string }>().id, tenant.id)
    const users = await as(billing, 'GET', `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users/me`)
    assert.equal(users.status, 302, users.text)

    const teamA = await serviceAccountToken('team-a', 'reporter')
    assert.equal((await as(teamA, 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`)).status, 200, 'mapped by the kubernetes.io namespace claim')

    const create = await as(billing, 'POST', '/regions/eu/api/v1/tenants', { licenseKey: 'lk' })
    assert.equal(create.status, 403, 'the policy applies to JWT callers: reading is not creating')
    assert.equal(create.json<{ code: string }>().code, 'QB_FORBIDDEN')
    assert.match(create.json<{ detail: string }>().detail, /caller "billing"/)

    const idle = await as(await serviceAccountToken('idle', 'idle'), 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`)
    assert.equal(idle.status, 403, 'a JWT caller without grants is authenticated, then denied')
    assert.equal(idle.json<{ code: string }>().code, 'QB_FORBIDDEN')

    const bothByJwt = await as(await serviceAccountToken('both', 'svc'), 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`)
    assert.equal(bothByJwt.status, 200, bothByJwt.text)
    const bothByKey = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: { ...bearer(stack.keys.reader), 'qlik-tenant-hostname': tenant.hostnames[0] ?? '' } })
    assert.equal(bothByKey.status, 200, 'the same caller\'s API key keeps working')
    const admin = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: bearer(stack.keys.admin), body: { licenseKey: 'lk' } })
    assert.equal(admin.status, 201, admin.text)

    assert.equal(jwks.jwksHits() >= 1, true)
    assertNoLeak({ logs: stack.logs.text(), responses: [read.text, users.text, create.text, idle.text, bothByJwt.text].join('\n') }, [...tokens, ...sensitiveValues(stack)])
  })

  await it('refuses bad JWTs with 401 and a problem that says why, never echoing the token, in responses or logs', async (t) => {
    const stack = await jwtStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const path = `/regions/eu/api/v1/tenants/${tenant.id}`
    const now = Math.floor(Date.now() / 1000)
    const other = await createSigningKey('RS256', 'cluster-key-1')
    const cases: Array<[string, string, RegExp]> = [
      ['wrong audience', await serviceAccountToken('billing', 'billing-api', { audience: ['vault'] }), /audience is not one the broker accepts/],
      ['expired', await serviceAccountToken('billing', 'billing-api', { now: now - 3_600, expiresIn: 600 }), /has expired/],
      ['not yet valid', await serviceAccountToken('billing', 'billing-api', { notBefore: 300 }), /not valid yet/],
      ['unknown issuer', await serviceAccountToken('billing', 'billing-api', { issuer: 'https://other-cluster.example.com' }), /issuer \(iss\) is not one the broker trusts/],
      ['alg none', unsignedToken({ iss: CLUSTER, sub: 'system:serviceaccount:billing:billing-api', aud: ['qlik-broker'], exp: now + 600 }), /algorithm is not accepted/],
      ['HS256 with the public key', await hmacWithPublicKey(key, { issuer: CLUSTER, subject: 'system:serviceaccount:billing:billing-api' }), /algorithm is not accepted/],
      ['signed by another key', await signToken(other, { issuer: CLUSTER, subject: 'system:serviceaccount:billing:billing-api' }), /signature does not verify/],
      ['no such caller', await serviceAccountToken('payments', 'payments-api'), /^the JWT is valid, but its subject is not a broker caller$/],
      ['lives for ever', await serviceAccountToken('billing', 'billing-api', { expiresIn: 253_402_300_799 - now }), /lives longer than the broker accepts/]
    ]
    const texts: string[] = []
    for (const [label, token, detail] of cases) {
      const result = await http(stack.url, 'GET', path, { headers: bearer(token) })
      texts.push(result.text)
      await t.test(label, () => { assertUnauthenticated(result, detail, token) })
    }
    const unknownKey = await http(stack.url, 'GET', path, { headers: bearer(createApiKey().key) })
    assert.equal(unknownKey.status, 401)
    assert.match(unknownKey.json<{ detail: string }>().detail, /not a valid broker credential/, 'an unknown API key gets the API-key answer, not the JWT one')

    // Issue 10 §13: a 401 never names the broker's configuration (issuer names, algorithms, subjects it knows or not).
    for (const text of texts) {
      for (const configuration of ['"cluster"', 'cluster:', 'RS256', 'ES256', 'EdDSA', 'payments-api', 'accepted:']) assert.equal(text.includes(configuration), false, `${configuration} in ${text}`)
    }
    const logs = stack.logs.text()
    assert.match(logs, /not a broker caller/, 'the refusal is logged with its reason')
    assert.match(logs, /"sub":"system:serviceaccount:payments:payments-api"/, 'the log names the subject the answer does not')
    assert.match(logs, /"maxLifetimeSeconds":86400/, 'the log names the limit the answer does not')
    assertNoLeak({ logs, responses: texts.join('\n') }, [...cases.map(([, token]) => token), ...cases.map(([, token]) => token.split('.')[2] ?? '').filter((part) => part.length >= 8)])
  })
})
