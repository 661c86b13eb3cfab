import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import { pino } from 'pino'
import { SecretsUnavailableError } from '../../src/secrets/secrets-source.js'
import { createVaultSecretsSource } from '../../src/secrets/vault-secrets-source.js'
import type { VaultAuthOptions, VaultSecretsSource, VaultSecretsSourceOptions } from '../../src/secrets/vault-secrets-source.js'
import { createVaultDouble } from '../doubles/vault-double.js'
import type { VaultDouble, VaultDoubleOptions } from '../doubles/vault-double.js'

const SECRET_EU = 'eu-client-secret-7f3a9c1e'
const SECRET_EU_ROTATED = 'eu-client-secret-rotated-52bd08'
const SECRET_US = 'us-client-secret-c4e61d2b'
const STATIC_TOKEN = 'hvs.static-broker-token-91ab7'
const EU_ONLY_TOKEN = 'hvs.eu-only-token-3c5d'
const ROLE_ID = 'role-id-5a0f3e'
const SECRET_ID = 'secret-id-e8d2b7'
const WRONG_SECRET_ID = 'wrong-secret-id-0c4a99'
const JWT_A = 'eyJhbGciOiJSUzI1NiJ9.jwt-a-payload.sig-a'
const JWT_B = 'eyJhbGciOiJSUzI1NiJ9.jwt-b-payload.sig-b'

const REGIONS = { eu: { path: 'qlik/eu' }, us: { path: 'qlik/us' } }

// Everything logged and every error message, searched for secrets by the last test.
const logLines: string[] = []
const errorTexts: string[] = []
const doubles: VaultDouble[] = []
const logger = pino({ level: 'debug' }, { write: (line: string) => { logLines.push(line) } })

async function startVault (t: TestContext, options: VaultDoubleOptions = {}): Promise<VaultDouble> {
  const double = await createVaultDouble({
    tokens: [
      { token: STATIC_TOKEN, ttlSeconds: 3600, allowedPaths: ['secret/'] },
      { token: EU_ONLY_TOKEN, allowedPaths: ['secret/data/qlik/eu'] }
    ],
    approle: { roles: [{ roleName: 'broker', roleId: ROLE_ID, secretId: SECRET_ID }], ttlSeconds: 60, maxTtlSeconds: 600, allowedPaths: ['secret/'] },
    kubernetes: { mount: 'k8s', roles: { broker: { jwts: [JWT_A] } }, ttlSeconds: 60, allowedPaths: ['secret/'] },
    ...options
  })
  double.writeSecret('secret', 'qlik/eu', { client_id: 'broker-eu', client_secret: SECRET_EU })
  double.writeSecret('secret', 'qlik/us', { client_id: 'broker-us', client_secret: SECRET_US })
  doubles.push(double)
  t.after(() => double.close())
  return double
}

const staticAuth: VaultAuthOptions = { method: 'token', token: STATIC_TOKEN }
const approleAuth: VaultAuthOptions = { method: 'approle', mount: 'approle', roleId: ROLE_ID, secretId: SECRET_ID }

function sourceFor (t: TestContext, double: VaultDouble, auth: VaultAuthOptions, extra: Partial<VaultSecretsSourceOptions> = {}): VaultSecretsSource {
  const source = createVaultSecretsSource({
    address: double.url,
    kvMount: 'secret',
    regions: REGIONS,
    auth,
    requestTimeoutMs: 2000,
    logger,
    ...extra
  })
  t.after(() => source.close())
  return source
}

async function expectUnavailable (promise: Promise<unknown>, pattern: RegExp): Promise<SecretsUnavailableError> {
  try {
    await promise
  } catch (err) {
    errorTexts.push(String(err), inspect(err, { depth: null }), JSON.stringify(err))
    assert.ok(err instanceof SecretsUnavailableError, `expected SecretsUnavailableError, got ${String(err)}`)
    assert.match(err.message, pattern)
    return err
  }
  assert.fail(`expected a SecretsUnavailableError matching ${String(pattern)}`)
}

async function until (check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** Whether a log line since `from` (an index into logLines) contains `text`. */
const logged = (text: string, from = 0): boolean => logLines.slice(from).some((line) => line.includes(text))

await describe('Vault secrets source: reads', async () => {
  await it('reads two regions with a static token and serves them from memory afterwards', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, staticAuth)

    const eu = await source.get('eu')
    const us = await source.get('us')
    assert.equal(eu.region, 'eu')
    assert.equal(eu.clientId, 'broker-eu')
    assert.equal(eu.clientSecret.reveal(), SECRET_EU)
    assert.equal(eu.version, '1')
    assert.equal(us.clientId, 'broker-us')
    assert.equal(us.clientSecret.reveal(), SECRET_US)
    // The secret is sealed against accidental printing.
    assert.equal(JSON.stringify(eu).includes(SECRET_EU), false)
    assert.equal(inspect(eu).includes(SECRET_EU), false)

    assert.equal(await source.get('eu'), eu)
    assert.equal(double.reads['secret/data/qlik/eu'], 1)
    assert.equal(double.reads['secret/data/qlik/us'], 1)
    assert.equal(double.logins['approle'], undefined)
    assert.deepEqual(source.status(), { kind: 'vault', reachable: true, loadedRegions: ['eu', 'us'] })
    // The static token is looked up once (in the background) to learn whether it needs renewing.
    await until(() => double.requests['GET /v1/auth/token/lookup-self'] === 1, 'lookup-self')

    await expectUnavailable(source.get('mars'), /region "mars".*not a configured region/)
  })

  await it('refresh() reads again and picks up a rotated secret; currentVersion() sees it from metadata', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, staticAuth)
    const mark = logLines.length
    assert.equal((await source.get('eu')).version, '1')

    double.writeSecret('secret', 'qlik/eu', { client_id: 'broker-eu', client_secret: SECRET_EU_ROTATED })
    assert.equal(await source.currentVersion('eu'), '2')
    assert.equal(double.requests['GET /v1/secret/metadata/*'], 1)
    assert.equal((await source.get('eu')).version, '1', 'get() still answers from memory')
    assert.equal(source.held?.('eu')?.version, '1', 'and so does held()')
    assert.equal(source.held?.('us'), undefined, 'nothing held for a region not read yet')

    const fresh = await source.refresh('eu')
    assert.equal(fresh.version, '2')
    assert.equal(fresh.clientSecret.reveal(), SECRET_EU_ROTATED)
    assert.equal(await source.get('eu'), fresh)
    assert.equal(source.held?.('eu'), fresh)
    assert.ok(logged('region credentials changed in Vault', mark))
  })

  await it('shares one read per region among concurrent get() calls, and one login among them', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, approleAuth)
    const results = await Promise.all([...Array(5).fill('eu'), ...Array(5).fill('us')].map((r: string) => source.get(r)))
    assert.equal(double.logins['approle'], 1)
    assert.equal(double.requests['POST /v1/auth/approle/login'], 1)
    assert.equal(double.requests['GET /v1/secret/data/*'], 2)
    assert.equal(double.reads['secret/data/qlik/eu'], 1)
    assert.equal(double.reads['secret/data/qlik/us'], 1)
    assert.ok(results.slice(0, 5).every((c) => c === results[0]))
    assert.equal(results[5]?.clientSecret.reveal(), SECRET_US)

    const refreshes = await Promise.all([source.refresh('eu'), source.refresh('eu'), source.refresh('eu')])
    assert.equal(double.reads['secret/data/qlik/eu'], 2)
    assert.ok(refreshes.every((c) => c === refreshes[0]))
  })

  await it('start() logs in, warms up every region and reports the ones that failed', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, approleAuth, { regions: { ...REGIONS, ap: { path: 'qlik/ap' } } })
    const result = await source.start()
    assert.deepEqual(result.loadedRegions, ['eu', 'us'])
    assert.deepEqual(Object.keys(result.failedRegions), ['ap'])
    assert.match(result.failedRegions['ap'] ?? '', /no secret at secret\/data\/qlik\/ap/)
    errorTexts.push(...Object.values(result.failedRegions))
    assert.equal(double.logins['approle'], 1)

    const refused = sourceFor(t, double, { ...approleAuth, secretId: WRONG_SECRET_ID })
    const none = await refused.start()
    assert.deepEqual(none.loadedRegions, [])
    assert.match(none.failedRegions['eu'] ?? '', /approle login at auth\/approle failed: .*invalid role or secret ID/)
    errorTexts.push(...Object.values(none.failedRegions))
  })
})

await describe('Vault secrets source: logins', async () => {
  await it('logs in with AppRole and explains a refused login without the secret_id', async (t) => {
    const double = await startVault(t)
    const ok = sourceFor(t, double, approleAuth)
    assert.equal((await ok.get('eu')).clientSecret.reveal(), SECRET_EU)
    assert.deepEqual(double.loginLog.map((l) => [l.method, l.role, l.status]), [['approle', ROLE_ID, 200]])

    const refused = sourceFor(t, double, { ...approleAuth, secretId: WRONG_SECRET_ID })
    await expectUnavailable(refused.get('eu'), /Vault approle login at auth\/approle failed: Vault answered 400: invalid role or secret ID/)
    assert.equal(refused.status().reachable, true, 'Vault answered, it just said no')
  })

  await it('logs in with Kubernetes auth on a custom mount and re-reads the rotating JWT file on every login', async (t) => {
    const double = await startVault(t)
    const dir = await mkdtemp(join(tmpdir(), 'vault-jwt-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    const jwtPath = join(dir, 'token')
    await writeFile(jwtPath, `${JWT_A}\n`)
    const source = sourceFor(t, double, { method: 'kubernetes', mount: 'k8s', role: 'broker', jwtPath })

    assert.equal((await source.get('eu')).clientId, 'broker-eu')
    // The kubelet rotates the projected token; Vault stops accepting the old one.
    await writeFile(jwtPath, JWT_B)
    double.setKubernetesJwts('broker', [JWT_B])
    double.expireTokens()

    assert.equal((await source.refresh('eu')).clientId, 'broker-eu')
    assert.deepEqual(double.loginLog.map((l) => [l.mount, l.jwt, l.status]), [['k8s', JWT_A, 200], ['k8s', JWT_B, 200]])
    // mount_point was passed: nothing went to node-vault's broken default `auth//login`.
    assert.equal(double.requests['POST /v1/auth/k8s/login'], 2)

    await rm(jwtPath)
    double.expireTokens()
    await expectUnavailable(source.refresh('us'), /cannot read the Kubernetes service account token at .*token \(ENOENT\)/)
  })

  await it('logs in again after Vault expired the token, then the read succeeds', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, approleAuth)
    const mark = logLines.length
    await source.get('eu')
    double.expireTokens()

    const again = await source.refresh('eu')
    assert.equal(again.clientSecret.reveal(), SECRET_EU)
    assert.equal(double.logins['approle'], 2)
    // First read, the refused one, and the retry with the new token.
    assert.equal(double.requests['GET /v1/secret/data/*'], 3)
    assert.equal(double.reads['secret/data/qlik/eu'], 2)
    assert.ok(logged('Vault refused the token; logging in again and retrying once', mark))
  })

  await it('renews the token at about two thirds of its lease, and logs in again once renewals are capped by the max TTL', async (t) => {
    const double = await startVault(t, {
      approle: { roles: [{ roleName: 'broker', roleId: ROLE_ID, secretId: SECRET_ID }], ttlSeconds: 2, maxTtlSeconds: 4 }
    })
    const source = sourceFor(t, double, approleAuth)
    const mark = logLines.length
    await source.start()
    const first = double.loginLog[0]
    assert.ok(first !== undefined)
    const firstToken = double.issuedTokens[0] ?? ''

    await until(() => double.renewals >= 1, 'a renewal', 2500)
    const renewedAt = Date.now() - first.at
    assert.ok(renewedAt >= 1000 && renewedAt < 2000, `renewed after ${renewedAt} ms of a 2 s lease`)

    // Past the original 2 s lease the first token still works: the renewal extended it.
    await sleep(Math.max(0, first.at + 2300 - Date.now()))
    const lookup = await fetch(`${double.url}/v1/auth/token/lookup-self`, { headers: { 'X-Vault-Token': firstToken } })
    assert.equal(lookup.status, 200)
    await lookup.body?.cancel()

    await until(() => (double.logins['approle'] ?? 0) >= 2, 'a second login', 3000)
    const second = double.loginLog[1]
    assert.ok(second !== undefined)
    assert.ok(second.at - first.at < 4000, 'logged in again before the first token hit its max TTL')
    assert.ok(logged('Vault token renewal capped by its max TTL', mark))

    assert.equal((await source.refresh('eu')).clientSecret.reveal(), SECRET_EU)
    assert.equal(logged('Vault refused', mark), false, 'neither a read nor a renewal met an expired token')
  })

  await it('retries a failed renewal with back-off and keeps the static token', async (t) => {
    const double = await startVault(t, { tokens: [{ token: STATIC_TOKEN, ttlSeconds: 3 }] })
    const source = sourceFor(t, double, staticAuth)
    const mark = logLines.length
    await source.start()
    assert.equal(double.requests['GET /v1/auth/token/lookup-self'], 1)
    await double.stop()
    await until(() => logged('Vault token renewal failed; retrying', mark), 'a failed renewal', 3000)
    await double.start()
    await until(() => double.renewals >= 1, 'a renewal after Vault came back', 3000)
    assert.equal((await source.get('eu')).clientSecret.reveal(), SECRET_EU)
  })
})

await describe('Vault secrets source: failures', async () => {
  await it('turns a missing secret, a deleted version and a missing field into clear errors', async (t) => {
    const double = await startVault(t)
    double.writeSecret('secret', 'qlik/half', { client_id: 'only-id' })
    double.writeSecret('secret', 'qlik/blank', { client_id: 'id', client_secret: '' })
    double.deleteSecretVersion('secret', 'qlik/us')
    const source = sourceFor(t, double, staticAuth, {
      regions: { ...REGIONS, ap: { path: 'qlik/ap' }, half: { path: 'qlik/half' }, blank: { path: 'qlik/blank' } }
    })
    await expectUnavailable(source.get('ap'), /region "ap" are unavailable: no secret at secret\/data\/qlik\/ap$/)
    await expectUnavailable(source.get('us'), /version 1 at secret\/data\/qlik\/us is deleted/)
    await expectUnavailable(source.get('half'), /field "client_secret" is missing or empty at secret\/data\/qlik\/half/)
    await expectUnavailable(source.get('blank'), /field "client_secret" is missing or empty/)
    await expectUnavailable(source.currentVersion('ap'), /no secret at secret\/metadata\/qlik\/ap/)
    assert.deepEqual(source.status().loadedRegions, [])
    assert.equal(source.status().reachable, true)
  })

  await it('reports permission denied for a static token without access, and does not retry', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, { method: 'token', token: EU_ONLY_TOKEN })
    assert.equal((await source.get('eu')).clientId, 'broker-eu')
    const err = await expectUnavailable(source.get('us'), /permission denied reading secret\/data\/qlik\/us/)
    assert.equal(err.region, 'us')
    assert.equal(double.requests['GET /v1/secret/data/*'], 2)
  })

  await it('says Vault is sealed (503) and rate limited (429)', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, approleAuth)
    await source.get('eu')
    double.seal()
    await expectUnavailable(source.refresh('eu'), /Vault is sealed or unavailable \(503\)/)
    assert.equal(source.status().reachable, false)
    assert.match(source.status().lastError ?? '', /sealed/)
    double.unseal()

    double.setQuotaExceeded(true)
    await expectUnavailable(source.get('us'), /rate limited by Vault \(429\)/)
    double.setQuotaExceeded(false)
    assert.equal((await source.get('us')).clientId, 'broker-us')
    assert.equal(source.status().lastError, undefined)
  })

  await it('gives up on a hung Vault after requestTimeoutMs', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, staticAuth, { requestTimeoutMs: 150 })
    double.setResponseDelay(1000)
    const started = Date.now()
    await expectUnavailable(source.get('eu'), /Vault unreachable \(ETIMEDOUT after 150 ms\)/)
    assert.ok(Date.now() - started < 900)
    assert.equal(source.status().reachable, false)

    // The background lookup of the static token timed out too, so it is tried again on next use.
    await until(() => logged('will try again on next use'), 'a failed lookup')
    double.setResponseDelay(0)
    assert.equal((await source.get('eu')).clientId, 'broker-eu')
    await until(() => double.requests['GET /v1/auth/token/lookup-self'] === 2, 'a second lookup')
  })

  await it('keeps serving from memory while Vault is down; refresh() fails cleanly and keeps what it had', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, approleAuth)
    const eu = await source.get('eu')
    await double.stop()

    assert.equal(await source.get('eu'), eu)
    await expectUnavailable(source.refresh('eu'), /Vault unreachable \(ECONNREFUSED\)/)
    assert.equal(await source.get('eu'), eu)
    const status = source.status()
    assert.equal(status.reachable, false)
    assert.deepEqual(status.loadedRegions, ['eu'])
    assert.match(status.lastError ?? '', /region "eu" are unavailable: Vault unreachable/)
    await expectUnavailable(source.get('us'), /Vault unreachable \(ECONNREFUSED\)/)

    await double.start()
    assert.equal((await source.refresh('eu')).clientSecret.reveal(), SECRET_EU)
    assert.equal(source.status().reachable, true)
    assert.equal(source.status().lastError, undefined)
  })

  await it('refuses work after close()', async (t) => {
    const double = await startVault(t)
    const source = sourceFor(t, double, approleAuth)
    await source.get('eu')
    await source.close()
    await expectUnavailable(source.get('eu'), /closed/)
    assert.equal(source.held?.('eu'), undefined, 'nothing held to hand out once closed: get() refuses')
    assert.deepEqual(source.status().loadedRegions, [])
  })
})

await describe('Vault secrets source: configuration', async () => {
  await it('sends X-Vault-Namespace from its options, and ignores VAULT_* environment variables', async (t) => {
    const double = await startVault(t, { namespace: 'team-a' })
    const saved = { ...process.env }
    t.after(() => {
      for (const key of ['VAULT_TOKEN', 'VAULT_NAMESPACE', 'VAULT_PREFIX']) {
        if (saved[key] === undefined) Reflect.deleteProperty(process.env, key)
        else process.env[key] = saved[key]
      }
    })
    Object.assign(process.env, { VAULT_TOKEN: 'env-token', VAULT_NAMESPACE: 'team-a', VAULT_PREFIX: '/bogus' })

    const withNamespace = sourceFor(t, double, approleAuth, { namespace: 'team-a' })
    assert.equal((await withNamespace.get('eu')).clientId, 'broker-eu')
    const without = sourceFor(t, double, approleAuth)
    await expectUnavailable(without.get('eu'), /approle login at auth\/approle failed: permission denied/)
  })

  await it('checks its options when created, naming the option and never its value', () => {
    const base: VaultSecretsSourceOptions = { address: 'http://127.0.0.1:8200', regions: REGIONS, auth: staticAuth, requestTimeoutMs: 1000, logger }
    const cases: Array<[Partial<VaultSecretsSourceOptions>, RegExp]> = [
      [{ address: 'ftp://vault' }, /address must be an http\(s\) URL/],
      [{ requestTimeoutMs: 0 }, /requestTimeoutMs must be a positive number/],
      [{ regions: {} }, /at least one region/],
      [{ regions: { eu: { path: ' / ' } } }, /path for region "eu"/],
      [{ kvMount: 'se cret' }, /kvMount "se cret"/],
      [{ auth: { method: 'token', token: ' ' } }, /auth\.token must be a non-empty string/],
      [{ auth: { ...approleAuth, secretId: '' } }, /auth\.secretId must be a non-empty string/],
      [{ auth: { method: 'kubernetes', mount: 'k8s{{x}}', role: 'r', jwtPath: '/t' } }, /auth\.mount "k8s\{\{x\}\}"/]
    ]
    for (const [override, pattern] of cases) {
      assert.throws(() => createVaultSecretsSource({ ...base, ...override }), (err: Error) => {
        errorTexts.push(err.message)
        assert.match(err.message, pattern)
        return true
      })
    }
  })
})

await describe('Vault secrets source: no leaks', async () => {
  await it('never logs or puts in an error a secret, a token, a secret_id, a role_id or a JWT', () => {
    const sensitive = [SECRET_EU, SECRET_EU_ROTATED, SECRET_US, STATIC_TOKEN, EU_ONLY_TOKEN, ROLE_ID, SECRET_ID, WRONG_SECRET_ID, JWT_A, JWT_B, ...doubles.flatMap((d) => d.issuedTokens)]
    assert.ok(logLines.length > 20, `expected plenty of log lines, got ${logLines.length}`)
    assert.ok(errorTexts.length > 20, `expected plenty of error texts, got ${errorTexts.length}`)
    assert.ok(doubles.some((d) => d.issuedTokens.length > 0))
    for (const text of [...logLines, ...errorTexts]) {
      for (const value of sensitive) {
        assert.equal(text.includes(value), false, `leaked a sensitive value in: ${text.slice(0, 200)}`)
      }
    }
  })
})
