import assert from 'node:assert/strict'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import { loadConfig } from '../../src/config/load-config.js'
import { createDependencies } from '../../src/dependencies.js'
import { SecretsUnavailableError } from '../../src/secrets/secrets-source.js'
import { createVaultSecretsSource } from '../../src/secrets/vault-secrets-source.js'
import type { VaultAuthOptions, VaultSecretsSource, VaultSecretsSourceOptions } from '../../src/secrets/vault-secrets-source.js'
import { createVaultDouble } from '../doubles/vault-double.js'
import type { VaultDouble, VaultDoubleOptions } from '../doubles/vault-double.js'
import { captureLogs } from '../support/log-capture.js'

/*
 * Issue 9 §5: VAULT_TOKEN_FILE (a Vault Agent sink) and VAULT_SECRET_ID_FILE
 * are rewritten by their owners. The broker re-reads them when they change
 * and whenever Vault refuses its token, and logs in with the new content.
 */

const SECRET_V1 = 'eu-client-secret-v1-0f3e9a'
const SECRET_V2 = 'eu-client-secret-v2-7b21cd'
const AGENT_TOKEN_1 = 'hvs.agent-sink-token-one-4d1c'
const AGENT_TOKEN_2 = 'hvs.agent-sink-token-two-93ae'
const ROLE_ID = 'role-id-files-61b0'
const SECRET_ID_1 = 'secret-id-one-a8f27c'
const SECRET_ID_2 = 'secret-id-two-5e09d4'
const FILE_CHECK_MS = 5000

const logs = captureLogs()
const errorTexts: string[] = []
const doubles: VaultDouble[] = []

async function startVault (t: TestContext, options: VaultDoubleOptions = {}): Promise<VaultDouble> {
  const double = await createVaultDouble({
    tokens: [
      { token: AGENT_TOKEN_1, ttlSeconds: 3600, allowedPaths: ['secret/'] },
      { token: AGENT_TOKEN_2, ttlSeconds: 3600, allowedPaths: ['secret/'] }
    ],
    approle: { roles: [{ roleName: 'broker', roleId: ROLE_ID, secretId: SECRET_ID_1 }], ttlSeconds: 600, allowedPaths: ['secret/'] },
    ...options
  })
  double.writeSecret('secret', 'qlik/regions/eu', { client_id: 'broker-eu', client_secret: SECRET_V1 })
  doubles.push(double)
  t.after(() => double.close())
  return double
}

async function tempDir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vault-files-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** What Vault Agent does with its sink: write a temporary file, then rename it over the old one. */
async function agentWrites (path: string, content: string): Promise<void> {
  const temporary = `${path}.tmp-${Date.now()}`
  await writeFile(temporary, `${content}\n`)
  await rename(temporary, path)
}

function sourceFor (t: TestContext, double: VaultDouble, auth: VaultAuthOptions, extra: Partial<VaultSecretsSourceOptions> = {}): VaultSecretsSource {
  const source = createVaultSecretsSource({
    address: double.url,
    kvMount: 'secret',
    regions: { eu: { path: 'qlik/regions/eu' } },
    auth,
    requestTimeoutMs: 2000,
    logger: logs.logger,
    credentialFileCheckIntervalMs: FILE_CHECK_MS,
    ...extra
  })
  t.after(() => source.close())
  return source
}

/** Waits for async work started by a mocked timer (a file read, a Vault call) to land. */
async function until (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

const loggedSince = (mark: number, text: string): boolean => logs.lines.slice(mark).some((line) => line.includes(text))
const countSince = (mark: number, text: string): number => logs.lines.slice(mark).filter((line) => line.includes(text)).length

await describe('Vault credential files: the broker as configured (VAULT_TOKEN_FILE, VAULT_SECRET_ID_FILE)', async () => {
  await it('follows a Vault Agent token sink: new token in the file, old one revoked, the new secret version is picked up without a restart', async (t) => {
    const double = await startVault(t)
    const tokenPath = join(await tempDir(t), 'token')
    await agentWrites(tokenPath, AGENT_TOKEN_1)
    t.mock.timers.enable({ apis: ['setInterval'] })
    const config = loadConfig({
      SECRETS_SOURCE: 'vault',
      VAULT_ADDR: double.url,
      VAULT_AUTH_METHOD: 'token',
      VAULT_TOKEN_FILE: tokenPath,
      QLIK_REGIONS: 'eu',
      SECRETS_CHECK_INTERVAL_SECONDS: '30'
    })
    const deps = createDependencies(config, logs.logger)
    t.after(() => deps.close())
    assert.equal((await deps.secrets.get('eu')).version, '1')

    // The agent logged in again: new token in its sink, the old one revoked, and meanwhile the secret was rotated.
    await agentWrites(tokenPath, AGENT_TOKEN_2)
    double.revokeToken(AGENT_TOKEN_1)
    double.writeSecret('secret', 'qlik/regions/eu', { client_id: 'broker-eu', client_secret: SECRET_V2 })

    t.mock.timers.tick(30_000)
    await until(async () => (await deps.secrets.get('eu')).version === '2', 'the new secret version')
    assert.equal((await deps.secrets.get('eu')).clientSecret.reveal(), SECRET_V2)
    assert.deepEqual(deps.secrets.status(), { kind: 'vault', reachable: true, loadedRegions: ['eu'] })
  })

  await it('follows a rewritten VAULT_SECRET_ID_FILE: logs in with the new secret_id after the old one was destroyed', async (t) => {
    const double = await startVault(t)
    const secretIdPath = join(await tempDir(t), 'secret-id')
    await agentWrites(secretIdPath, SECRET_ID_1)
    t.mock.timers.enable({ apis: ['setInterval'] })
    const config = loadConfig({
      SECRETS_SOURCE: 'vault',
      VAULT_ADDR: double.url,
      VAULT_AUTH_METHOD: 'approle',
      VAULT_ROLE_ID: ROLE_ID,
      VAULT_SECRET_ID_FILE: secretIdPath,
      QLIK_REGIONS: 'eu',
      SECRETS_CHECK_INTERVAL_SECONDS: '30'
    })
    const deps = createDependencies(config, logs.logger)
    t.after(() => deps.close())
    assert.equal((await deps.secrets.get('eu')).version, '1')

    // A new secret_id is delivered, the old one destroyed, every token from it revoked.
    await agentWrites(secretIdPath, SECRET_ID_2)
    double.setAppRoleSecretIds('broker', [SECRET_ID_2])
    for (const token of double.issuedTokens) double.revokeToken(token)
    double.writeSecret('secret', 'qlik/regions/eu', { client_id: 'broker-eu', client_secret: SECRET_V2 })

    t.mock.timers.tick(30_000)
    await until(async () => (await deps.secrets.get('eu')).version === '2', 'the new secret version')
    assert.deepEqual(double.loginLog.map((login) => login.status), [200, 200])
  })
})

await describe('Vault credential files: the token file', async () => {
  await it('reads the file again when Vault refuses the token, and retries once with the new token', async (t) => {
    const double = await startVault(t)
    const tokenPath = join(await tempDir(t), 'token')
    await agentWrites(tokenPath, AGENT_TOKEN_1)
    // No tick: only the refusal can make the broker read the file again.
    t.mock.timers.enable({ apis: ['setInterval'] })
    const source = sourceFor(t, double, { method: 'token', tokenFile: tokenPath })
    const mark = logs.lines.length
    assert.equal((await source.get('eu')).version, '1')
    assert.ok(loggedSince(mark, 'read the Vault token from its file'))

    await agentWrites(tokenPath, AGENT_TOKEN_2)
    double.revokeToken(AGENT_TOKEN_1)
    double.writeSecret('secret', 'qlik/regions/eu', { client_id: 'broker-eu', client_secret: SECRET_V2 })

    const fresh = await source.refresh('eu')
    assert.equal(fresh.version, '2')
    assert.equal(fresh.clientSecret.reveal(), SECRET_V2)
    // The first read, refused with the revoked token; the retry with the new one.
    assert.equal(double.requests['GET /v1/secret/data/*'], 3)
    assert.ok(loggedSince(mark, 'Vault refused the token; logging in again and retrying once'))
    assert.ok(loggedSince(mark, 'read a new Vault token from its file'))
  })

  await it('switches to a new token as soon as the file changes, before Vault refuses the old one', async (t) => {
    const double = await startVault(t)
    const tokenPath = join(await tempDir(t), 'token')
    await agentWrites(tokenPath, AGENT_TOKEN_1)
    t.mock.timers.enable({ apis: ['setInterval'] })
    const source = sourceFor(t, double, { method: 'token', tokenFile: tokenPath })
    await source.start()
    const lookups = double.requests['GET /v1/auth/token/lookup-self']
    assert.equal(lookups, 1)
    const mark = logs.lines.length

    await agentWrites(tokenPath, AGENT_TOKEN_2)
    t.mock.timers.tick(FILE_CHECK_MS)
    await until(() => loggedSince(mark, 'read a new Vault token from its file'), 'the new token to be taken')
    // The new token is looked up to learn its TTL, so it gets renewed.
    await until(() => double.requests['GET /v1/auth/token/lookup-self'] === 2, 'a lookup of the new token')

    double.revokeToken(AGENT_TOKEN_1)
    double.writeSecret('secret', 'qlik/regions/eu', { client_id: 'broker-eu', client_secret: SECRET_V2 })
    assert.equal((await source.refresh('eu')).clientSecret.reveal(), SECRET_V2)
    assert.equal(double.requests['GET /v1/secret/data/*'], 2, 'no read was refused')
    assert.equal(loggedSince(mark, 'Vault refused'), false)
  })

  await it('fails cleanly, without a retry loop, when Vault refuses the token and the file still holds it', async (t) => {
    const double = await startVault(t)
    const tokenPath = join(await tempDir(t), 'token')
    await agentWrites(tokenPath, AGENT_TOKEN_1)
    t.mock.timers.enable({ apis: ['setInterval'] })
    const source = sourceFor(t, double, { method: 'token', tokenFile: tokenPath })
    await source.get('eu')
    double.revokeToken(AGENT_TOKEN_1)

    await assert.rejects(source.refresh('eu'), (err: Error) => {
      errorTexts.push(String(err), inspect(err, { depth: null }))
      assert.ok(err instanceof SecretsUnavailableError)
      assert.match(err.message, /permission denied reading secret\/data\/qlik\/regions\/eu/)
      return true
    })
    assert.equal(double.requests['GET /v1/secret/data/*'], 2, 'one refused read, no retry with the same token')
    assert.equal((await source.get('eu')).version, '1', 'what was read stays in use')
  })

  await it('keeps the token in use while the file is missing or empty mid-rewrite, says so once, and takes the next token written', async (t) => {
    const double = await startVault(t)
    const tokenPath = join(await tempDir(t), 'token')
    await agentWrites(tokenPath, AGENT_TOKEN_1)
    t.mock.timers.enable({ apis: ['setInterval'] })
    const source = sourceFor(t, double, { method: 'token', tokenFile: tokenPath })
    await source.get('eu')
    const mark = logs.lines.length

    // A tick while a check is still reading joins it rather than starting another, and on a loaded
    // machine the read can outlast the test's next step: tick until the check that sees the change has run.
    const tickUntil = async (text: string, what: string): Promise<void> => {
      await until(() => {
        if (loggedSince(mark, text)) return true
        t.mock.timers.tick(FILE_CHECK_MS)
        return false
      }, what)
    }
    await rm(tokenPath)
    await tickUntil('cannot read the Vault token file at', 'a warning about the missing file')
    t.mock.timers.tick(FILE_CHECK_MS)
    t.mock.timers.tick(FILE_CHECK_MS)
    await writeFile(tokenPath, '  \n')
    await tickUntil('is empty', 'a warning about the empty file')
    assert.equal(countSince(mark, '(ENOENT)'), 1, 'a missing file is reported once, not on every check')
    assert.equal((await source.refresh('eu')).version, '1', 'the token in use still works')

    await agentWrites(tokenPath, AGENT_TOKEN_2)
    await tickUntil('read a new Vault token from its file', 'the new token to be taken')
    double.revokeToken(AGENT_TOKEN_1)
    assert.equal((await source.refresh('eu')).version, '1')
    assert.equal(loggedSince(mark, 'Vault refused'), false)
  })

  await it('waits for a token file that does not exist yet (an agent init container still running)', async (t) => {
    const double = await startVault(t)
    const tokenPath = join(await tempDir(t), 'token')
    const source = sourceFor(t, double, { method: 'token', tokenFile: tokenPath })
    const failed = await source.start()
    assert.match(failed.failedRegions['eu'] ?? '', /cannot read the Vault token file at .*token \(ENOENT\)/)
    errorTexts.push(...Object.values(failed.failedRegions))

    await agentWrites(tokenPath, AGENT_TOKEN_1)
    assert.equal((await source.get('eu')).clientSecret.reveal(), SECRET_V1)
  })
})

await describe('Vault credential files: the AppRole secret_id file', async () => {
  await it('logs in with a new secret_id as soon as the file changes, while the current token still works', async (t) => {
    const double = await startVault(t)
    const secretIdPath = join(await tempDir(t), 'secret-id')
    await agentWrites(secretIdPath, SECRET_ID_1)
    t.mock.timers.enable({ apis: ['setInterval'] })
    const source = sourceFor(t, double, { method: 'approle', mount: 'approle', roleId: ROLE_ID, secretIdFile: secretIdPath })
    await source.get('eu')
    const firstToken = double.issuedTokens[0] ?? ''
    const mark = logs.lines.length

    await agentWrites(secretIdPath, SECRET_ID_2)
    double.setAppRoleSecretIds('broker', [SECRET_ID_2])
    t.mock.timers.tick(FILE_CHECK_MS)
    await until(() => double.logins['approle'] === 2, 'a login with the new secret_id')
    assert.ok(loggedSince(mark, 'the AppRole secret_id file changed; logging in again with it'))

    double.revokeToken(firstToken)
    assert.equal((await source.refresh('eu')).clientSecret.reveal(), SECRET_V1)
    assert.equal(loggedSince(mark, 'Vault refused'), false, 'the read used the token from the new login')
  })

  await it('keeps the current token when a login with the new secret_id fails, and logs in again after a refusal', async (t) => {
    const double = await startVault(t)
    const secretIdPath = join(await tempDir(t), 'secret-id')
    await agentWrites(secretIdPath, SECRET_ID_1)
    t.mock.timers.enable({ apis: ['setInterval'] })
    const source = sourceFor(t, double, { method: 'approle', mount: 'approle', roleId: ROLE_ID, secretIdFile: secretIdPath })
    await source.get('eu')
    const firstToken = double.issuedTokens[0] ?? ''
    const mark = logs.lines.length

    // Written to the file before Vault knows it: the login fails, the current token stays.
    await agentWrites(secretIdPath, SECRET_ID_2)
    t.mock.timers.tick(FILE_CHECK_MS)
    await until(() => loggedSince(mark, 'Vault login with the new secret_id failed; keeping the current token'), 'the failed login')
    assert.deepEqual(double.loginLog.map((login) => login.status), [200, 400])
    assert.equal((await source.refresh('eu')).version, '1')

    // Later Vault accepts it and the old token goes away: the refusal leads to a login that reads the file.
    double.setAppRoleSecretIds('broker', [SECRET_ID_2])
    double.revokeToken(firstToken)
    assert.equal((await source.refresh('eu')).version, '1')
    assert.deepEqual(double.loginLog.map((login) => login.status), [200, 400, 200])
  })
})

await describe('Vault credential files: configuration and leaks', async () => {
  await it('names a blank file option and never echoes its value', () => {
    const base: VaultSecretsSourceOptions = { address: 'http://127.0.0.1:8200', regions: { eu: { path: 'qlik/eu' } }, auth: { method: 'token', tokenFile: '/t' }, requestTimeoutMs: 1000, logger: logs.logger }
    const cases: Array<[Partial<VaultSecretsSourceOptions>, RegExp]> = [
      [{ auth: { method: 'token', tokenFile: ' ' } }, /auth\.tokenFile must be a non-empty string/],
      [{ auth: { method: 'approle', mount: 'approle', roleId: 'r', secretIdFile: '' } }, /auth\.secretIdFile must be a non-empty string/],
      [{ credentialFileCheckIntervalMs: 0 }, /credentialFileCheckIntervalMs must be a positive number/]
    ]
    for (const [override, pattern] of cases) {
      assert.throws(() => createVaultSecretsSource({ ...base, ...override }), pattern)
    }
  })

  await it('never logs or puts in an error a token, a secret_id or a client secret read from a file', () => {
    const sensitive = [SECRET_V1, SECRET_V2, AGENT_TOKEN_1, AGENT_TOKEN_2, SECRET_ID_1, SECRET_ID_2, ...doubles.flatMap((d) => d.issuedTokens)]
    assert.ok(logs.lines.length > 20, `expected plenty of log lines, got ${logs.lines.length}`)
    assert.ok(errorTexts.length >= 3)
    for (const text of [...logs.lines, ...errorTexts]) {
      for (const value of sensitive) {
        assert.equal(text.includes(value), false, `leaked a sensitive value in: ${text.slice(0, 200)}`)
      }
    }
  })
})
