import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import { createVaultDouble, goDuration, parseDuration } from './vault-double.js'
import type { VaultDouble, VaultDoubleOptions } from './vault-double.js'

const ENVELOPE_KEYS = ['request_id', 'lease_id', 'renewable', 'lease_duration', 'data', 'wrap_info', 'warnings', 'auth', 'mount_type']
const START = Date.parse('2025-05-01T10:00:00Z')
const approle = { roles: [{ roleName: 'broker', roleId: 'role-1', secretId: 'sid-1' }], ttlSeconds: 120, maxTtlSeconds: 600, policies: ['default', 'broker'] }

interface Answer {
  status: number
  headers: Headers
  text: string
  body: Record<string, unknown>
}

async function start (t: TestContext, options: VaultDoubleOptions = {}): Promise<VaultDouble> {
  const double = await createVaultDouble({ tokens: [{ token: 'root-token' }], ...options })
  t.after(() => double.close())
  return double
}

async function call (double: VaultDouble, method: string, path: string, init: { token?: string, bearer?: string, body?: unknown, rawBody?: string, headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers }
  if (init.token !== undefined) headers['X-Vault-Token'] = init.token
  if (init.bearer !== undefined) headers['Authorization'] = `Bearer ${init.bearer}`
  const payload = init.rawBody ?? (init.body === undefined ? undefined : JSON.stringify(init.body))
  const res = await fetch(`${double.url}${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown> }
}

function record (value: unknown): Record<string, unknown> {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `expected an object, got ${JSON.stringify(value)}`)
  return value as Record<string, unknown>
}

await describe('Vault double: envelopes and KV v2', async () => {
  await it('answers a KV v2 read with the full envelope, headers and metadata', async (t) => {
    const double = await start(t)
    double.writeSecret('secret', 'qlik/eu', { client_id: 'id-eu', client_secret: 'shh' })
    const version = double.writeSecret('secret', 'qlik/eu', { client_id: 'id-eu', client_secret: 'shh-2' })
    assert.equal(version, 2)

    const res = await call(double, 'GET', '/v1/secret/data/qlik/eu', { token: 'root-token' })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/json')
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.ok(res.text.endsWith('}\n'), 'Go encoder ends with a newline')
    assert.deepEqual(Object.keys(res.body), ENVELOPE_KEYS)
    assert.match(String(res.body['request_id']), /^[0-9a-f-]{36}$/)
    assert.equal(res.body['lease_id'], '')
    assert.equal(res.body['lease_duration'], 0)
    assert.equal(res.body['warnings'], null)
    assert.equal(res.body['wrap_info'], null)
    assert.equal(res.body['auth'], null)
    assert.equal(res.body['mount_type'], 'kv')
    const data = record(res.body['data'])
    assert.deepEqual(data['data'], { client_id: 'id-eu', client_secret: 'shh-2' })
    const metadata = record(data['metadata'])
    assert.deepEqual(Object.keys(metadata).sort(), ['created_time', 'custom_metadata', 'deletion_time', 'destroyed', 'version'])
    assert.equal(metadata['version'], 2)
    assert.equal(metadata['custom_metadata'], null)
    assert.equal(metadata['deletion_time'], '')
    assert.match(String(metadata['created_time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/)

    const old = await call(double, 'GET', '/v1/secret/data/qlik/eu?version=1', { token: 'root-token' })
    assert.deepEqual(record(old.body['data'])['data'], { client_id: 'id-eu', client_secret: 'shh' })
    assert.equal(double.reads['secret/data/qlik/eu'], 2)
    assert.equal(double.requests['GET /v1/secret/data/*'], 2)
  })

  await it('gives 404 with an empty error list for a missing secret or version', async (t) => {
    const double = await start(t)
    double.writeSecret('secret', 'qlik/eu', { a: '1' })
    for (const path of ['/v1/secret/data/qlik/nope', '/v1/secret/data/qlik/eu?version=9', '/v1/secret/metadata/qlik/nope']) {
      const res = await call(double, 'GET', path, { token: 'root-token' })
      assert.equal(res.status, 404, path)
      assert.equal(res.text, '{"errors":[]}\n', path)
    }
  })

  await it('answers a deleted or destroyed version with 404 and a full envelope, not an error list', async (t) => {
    const double = await start(t)
    double.writeSecret('secret', 'qlik/eu', { a: '1' })
    double.writeSecret('secret', 'qlik/eu', { a: '2' })
    const del = await call(double, 'DELETE', '/v1/secret/data/qlik/eu', { token: 'root-token' })
    assert.equal(del.status, 204)
    assert.equal(del.text, '')

    const res = await call(double, 'GET', '/v1/secret/data/qlik/eu', { token: 'root-token' })
    assert.equal(res.status, 404)
    assert.equal('errors' in res.body, false)
    assert.deepEqual(Object.keys(res.body), ENVELOPE_KEYS)
    const data = record(res.body['data'])
    assert.equal(data['data'], null)
    assert.notEqual(record(data['metadata'])['deletion_time'], '')

    double.destroySecretVersion('secret', 'qlik/eu', 1)
    const destroyed = await call(double, 'GET', '/v1/secret/data/qlik/eu?version=1', { token: 'root-token' })
    assert.equal(destroyed.status, 404)
    assert.equal(record(record(destroyed.body['data'])['metadata'])['destroyed'], true)
  })

  await it('serves metadata with versions keyed by string', async (t) => {
    const double = await start(t)
    double.writeSecret('secret', 'qlik/eu', { a: '1' })
    double.writeSecret('secret', 'qlik/eu', { a: '2' })
    double.deleteSecretVersion('secret', 'qlik/eu', 1)
    const res = await call(double, 'GET', '/v1/secret/metadata/qlik/eu', { token: 'root-token' })
    assert.equal(res.status, 200)
    const data = record(res.body['data'])
    assert.deepEqual(Object.keys(data).sort(), ['cas_required', 'created_time', 'current_version', 'custom_metadata', 'delete_version_after', 'max_versions', 'oldest_version', 'updated_time', 'versions'])
    assert.equal(data['current_version'], 2)
    assert.equal(data['oldest_version'], 1)
    assert.equal(data['delete_version_after'], '0s')
    const versions = record(data['versions'])
    assert.deepEqual(Object.keys(versions), ['1', '2'])
    assert.notEqual(record(versions['1'])['deletion_time'], '')
    assert.equal(record(versions['2'])['deletion_time'], '')
  })

  await it('writes over HTTP, honours check-and-set, and rejects a write without data', async (t) => {
    const double = await start(t)
    const first = await call(double, 'POST', '/v1/secret/data/seed/eu', { token: 'root-token', body: { data: { client_id: 'x' } } })
    assert.equal(first.status, 200)
    assert.equal(record(first.body['data'])['version'], 1)
    const put = await call(double, 'PUT', '/v1/secret/data/seed/eu', { token: 'root-token', body: { data: { client_id: 'y' }, options: { cas: 1 } } })
    assert.equal(record(put.body['data'])['version'], 2)
    const stale = await call(double, 'POST', '/v1/secret/data/seed/eu', { token: 'root-token', body: { data: { client_id: 'z' }, options: { cas: 1 } } })
    assert.equal(stale.status, 400)
    const empty = await call(double, 'POST', '/v1/secret/data/seed/eu', { token: 'root-token', body: { nodata: true } })
    assert.deepEqual(empty.body, { errors: ['no data provided'] })
    const bad = await call(double, 'POST', '/v1/secret/data/seed/eu', { token: 'root-token', rawBody: '{nope' })
    assert.equal(bad.status, 400)
    const read = await call(double, 'GET', '/v1/secret/data/seed/eu', { token: 'root-token' })
    assert.deepEqual(record(read.body['data'])['data'], { client_id: 'y' })
  })

  await it('treats %2F-encoded and plain nested paths as the same secret, on any configured mount', async (t) => {
    const double = await start(t, { kvMounts: ['secret', 'kv/prod'] })
    double.writeSecret('kv/prod', 'qlik/eu/a', { v: 'nested' })
    const plain = await call(double, 'GET', '/v1/kv/prod/data/qlik/eu/a', { token: 'root-token' })
    const encoded = await call(double, 'GET', '/v1/kv/prod/data/qlik%2Feu%2Fa', { token: 'root-token' })
    assert.equal(plain.status, 200)
    assert.deepEqual(encoded.body['data'], plain.body['data'])
  })

  await it('answers a KV v1-style path on a v2 mount with 404 and the warning envelope', async (t) => {
    const double = await start(t)
    double.writeSecret('secret', 'qlik/eu', { a: '1' })
    const res = await call(double, 'GET', '/v1/secret/qlik/eu', { token: 'root-token' })
    assert.equal(res.status, 404)
    assert.equal('errors' in res.body, false)
    assert.equal(res.body['data'], null)
    assert.deepEqual(res.body['warnings'], ["Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation."])
  })

  await it('serves only /v1 and says "no handler" for an unmounted path', async (t) => {
    const double = await start(t)
    assert.equal((await call(double, 'GET', '/v2/secret/data/x', { token: 'root-token' })).status, 404)
    const res = await call(double, 'GET', '/v1/nothing/here', { token: 'root-token' })
    assert.equal(res.status, 404)
    assert.deepEqual(res.body, { errors: ['no handler for route "nothing/here". route entry not found.'] })
  })

  await it('can omit mount_type like OpenBao', async (t) => {
    const double = await start(t, { mountType: false })
    double.writeSecret('secret', 'a', { a: '1' })
    const res = await call(double, 'GET', '/v1/secret/data/a', { token: 'root-token' })
    assert.equal('mount_type' in res.body, false)
  })
})

await describe('Vault double: tokens and policies', async () => {
  await it('accepts X-Vault-Token and Authorization: Bearer, refuses a missing or unknown token', async (t) => {
    const double = await start(t)
    double.writeSecret('secret', 'a', { a: '1' })
    assert.equal((await call(double, 'GET', '/v1/secret/data/a', { bearer: 'root-token' })).status, 200)
    const missing = await call(double, 'GET', '/v1/secret/data/a')
    assert.equal(missing.status, 403)
    const unknown = await call(double, 'GET', '/v1/secret/data/a', { token: 'nope' })
    assert.equal(unknown.status, 403)
    assert.deepEqual(unknown.body, { errors: ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'] })
  })

  await it('denies paths outside a token\'s allowed prefixes with the multierror text', async (t) => {
    const double = await start(t, { tokens: [{ token: 'eu-only', allowedPaths: ['secret/data/qlik/eu'] }] })
    double.writeSecret('secret', 'qlik/eu', { a: '1' })
    double.writeSecret('secret', 'qlik/us', { a: '1' })
    assert.equal((await call(double, 'GET', '/v1/secret/data/qlik/eu', { token: 'eu-only' })).status, 200)
    const denied = await call(double, 'GET', '/v1/secret/data/qlik/us', { token: 'eu-only' })
    assert.equal(denied.status, 403)
    assert.deepEqual(denied.body, { errors: ['1 error occurred:\n\t* permission denied\n\n'] })
    // The default policy still allows looking up oneself.
    assert.equal((await call(double, 'GET', '/v1/auth/token/lookup-self', { token: 'eu-only' })).status, 200)
  })

  await it('looks up a token with the keys of the token store', async (t) => {
    const double = await start(t, { now: () => START, tokens: [{ token: 'root-token' }, { token: 'svc', ttlSeconds: 600, policies: ['default', 'broker'] }] })
    const res = await call(double, 'GET', '/v1/auth/token/lookup-self', { token: 'svc' })
    assert.equal(res.status, 200)
    assert.equal(res.body['auth'], null)
    const data = record(res.body['data'])
    for (const key of ['accessor', 'creation_time', 'creation_ttl', 'display_name', 'entity_id', 'expire_time', 'explicit_max_ttl', 'id', 'issue_time', 'meta', 'num_uses', 'orphan', 'path', 'policies', 'renewable', 'ttl', 'type']) {
      assert.ok(key in data, key)
    }
    assert.equal(data['id'], 'svc')
    assert.equal(data['ttl'], 600)
    assert.equal(data['renewable'], true)
    assert.deepEqual(data['policies'], ['default', 'broker'])

    const root = await call(double, 'GET', '/v1/auth/token/lookup-self', { token: 'root-token' })
    assert.equal(record(root.body['data'])['expire_time'], null)
    assert.equal(record(root.body['data'])['ttl'], 0)
  })

  await it('renews up to the max TTL with Vault\'s capping warning, then the token expires', async (t) => {
    let clock = START
    const double = await start(t, { now: () => clock, tokens: [{ token: 'svc', ttlSeconds: 3600, maxTtlSeconds: 5400 }] })

    clock += 1800 * 1000
    // node-vault sends renew-self without a body.
    const plain = await call(double, 'POST', '/v1/auth/token/renew-self', { token: 'svc' })
    assert.equal(plain.status, 200)
    assert.equal(plain.body['warnings'], null)
    assert.equal(plain.body['lease_duration'], 0)
    assert.equal(record(plain.body['auth'])['lease_duration'], 3600)

    clock += 1800 * 1000
    const capped = await call(double, 'POST', '/v1/auth/token/renew-self', { token: 'svc', body: { increment: '1h' } })
    assert.equal(capped.status, 200)
    assert.deepEqual(capped.body['warnings'], ['TTL of "1h0m0s" exceeded the effective max_ttl of "30m0s"; TTL value is capped accordingly'])
    assert.equal(record(capped.body['auth'])['lease_duration'], 1800)

    clock += 1200 * 1000
    const numeric = await call(double, 'POST', '/v1/auth/token/renew-self', { token: 'svc', body: { increment: 60 } })
    assert.equal(record(numeric.body['auth'])['lease_duration'], 60)
    assert.equal(numeric.body['warnings'], null)
    assert.equal(double.renewals, 3)

    clock += 61 * 1000
    const expired = await call(double, 'POST', '/v1/auth/token/renew-self', { token: 'svc' })
    assert.equal(expired.status, 403)
    assert.match(String((expired.body['errors'] as string[])[0]), /invalid token/)
  })

  await it('refuses to renew a root-like token and a non-renewable one', async (t) => {
    const double = await start(t, { tokens: [{ token: 'root-token' }, { token: 'fixed', ttlSeconds: 60, renewable: false }] })
    assert.deepEqual((await call(double, 'POST', '/v1/auth/token/renew-self', { token: 'root-token' })).body, { errors: ['invalid lease ID'] })
    assert.deepEqual((await call(double, 'POST', '/v1/auth/token/renew-self', { token: 'fixed' })).body, { errors: ['lease is not renewable'] })
  })

  await it('expireTokens() ends every token with a TTL, revokeToken() a given one', async (t) => {
    const double = await start(t, { tokens: [{ token: 'root-token' }, { token: 'svc', ttlSeconds: 600 }] })
    double.expireTokens()
    assert.equal((await call(double, 'GET', '/v1/auth/token/lookup-self', { token: 'svc' })).status, 403)
    assert.equal((await call(double, 'GET', '/v1/auth/token/lookup-self', { token: 'root-token' })).status, 200)
    double.revokeToken('root-token')
    assert.equal((await call(double, 'GET', '/v1/auth/token/lookup-self', { token: 'root-token' })).status, 403)
  })
})

await describe('Vault double: login methods', async () => {
  await it('logs in with AppRole and returns Vault\'s auth block', async (t) => {
    const double = await start(t, { approle })
    // A stale token sent along with a login is ignored.
    const res = await call(double, 'POST', '/v1/auth/approle/login', { token: 'stale', body: { role_id: 'role-1', secret_id: 'sid-1' } })
    assert.equal(res.status, 200)
    assert.deepEqual(Object.keys(res.body), ENVELOPE_KEYS)
    assert.equal(res.body['lease_duration'], 0)
    assert.equal(res.body['data'], null)
    const auth = record(res.body['auth'])
    assert.deepEqual(Object.keys(auth), ['client_token', 'accessor', 'policies', 'token_policies', 'metadata', 'lease_duration', 'renewable', 'entity_id', 'token_type', 'orphan', 'mfa_requirement', 'num_uses'])
    assert.match(String(auth['client_token']), /^hvs\./)
    assert.deepEqual(auth['metadata'], { role_name: 'broker' })
    assert.equal(auth['lease_duration'], 120)
    assert.equal(auth['renewable'], true)
    assert.equal(auth['token_type'], 'service')
    assert.equal(auth['orphan'], true)
    assert.equal(auth['mfa_requirement'], null)
    assert.equal(double.logins['approle'], 1)
    assert.deepEqual(double.issuedTokens, [auth['client_token']])

    const lookup = await call(double, 'GET', '/v1/auth/token/lookup-self', { token: String(auth['client_token']) })
    assert.equal(record(lookup.body['data'])['path'], 'auth/approle/login')
  })

  await it('setAppRoleSecretIds() swaps the secret IDs a role accepts (a new one generated, the old destroyed)', async (t) => {
    const double = await start(t, { approle })
    const login = async (secretId: string): Promise<number> => (await call(double, 'POST', '/v1/auth/approle/login', { body: { role_id: 'role-1', secret_id: secretId } })).status
    assert.equal(await login('sid-2'), 400)
    double.setAppRoleSecretIds('broker', ['sid-2'])
    assert.equal(await login('sid-1'), 400)
    assert.equal(await login('sid-2'), 200)
    assert.throws(() => { double.setAppRoleSecretIds('nobody', ['x']) }, /no AppRole role "nobody"/)
  })

  await it('omits token_policies when a login grants no policy', async (t) => {
    const double = await start(t, { approle: { ...approle, policies: [] } })
    const res = await call(double, 'POST', '/v1/auth/approle/login', { body: { role_id: 'role-1', secret_id: 'sid-1' } })
    assert.equal('token_policies' in record(res.body['auth']), false)
  })

  await it('answers bad AppRole logins with Vault\'s 400 messages', async (t) => {
    const double = await start(t, { approle: { ...approle, mount: 'ar' } })
    const cases: Array<[unknown, string]> = [
      [{ secret_id: 'sid-1' }, 'missing role_id'],
      [{ role_id: 'role-1' }, 'missing secret_id'],
      [{ role_id: 'role-1', secret_id: 'wrong' }, 'invalid role or secret ID'],
      [{ role_id: 'nobody', secret_id: 'sid-1' }, 'invalid role or secret ID']
    ]
    for (const [body, message] of cases) {
      const res = await call(double, 'POST', '/v1/auth/ar/login', { body })
      assert.equal(res.status, 400)
      assert.deepEqual(res.body, { errors: [message] })
    }
    assert.equal(double.logins['approle'], undefined)
    assert.equal(double.requests['POST /v1/auth/ar/login'], 4)
  })

  await it('logs in with Kubernetes auth and refuses bad roles and JWTs', async (t) => {
    const double = await start(t, { kubernetes: { roles: { broker: { jwts: ['jwt-a'], serviceAccountName: 'qb', serviceAccountNamespace: 'qlik' } }, ttlSeconds: 300 } })
    const ok = await call(double, 'POST', '/v1/auth/kubernetes/login', { body: { role: 'broker', jwt: 'jwt-a' } })
    assert.equal(ok.status, 200)
    const auth = record(ok.body['auth'])
    assert.deepEqual(auth['metadata'], { role: 'broker', service_account_name: 'qb', service_account_namespace: 'qlik', service_account_secret_name: '', service_account_uid: '0b7c9d4e-1111-4a2b-9c3d-5e6f7a8b9c0d' })
    assert.equal(auth['lease_duration'], 300)

    assert.deepEqual((await call(double, 'POST', '/v1/auth/kubernetes/login', { body: { jwt: 'jwt-a' } })).body, { errors: ['missing role'] })
    assert.deepEqual((await call(double, 'POST', '/v1/auth/kubernetes/login', { body: { role: 'broker' } })).body, { errors: ['missing jwt'] })
    const unknown = await call(double, 'POST', '/v1/auth/kubernetes/login', { body: { role: 'x', jwt: 'jwt-a' } })
    assert.equal(unknown.status, 400)
    assert.deepEqual(unknown.body, { errors: ['invalid role name "x"'] })
    const rejected = await call(double, 'POST', '/v1/auth/kubernetes/login', { body: { role: 'broker', jwt: 'jwt-b' } })
    assert.equal(rejected.status, 403)
    assert.deepEqual(rejected.body, { errors: ['permission denied'] })

    double.setKubernetesJwts('broker', ['jwt-b'])
    assert.equal((await call(double, 'POST', '/v1/auth/kubernetes/login', { body: { role: 'broker', jwt: 'jwt-b' } })).status, 200)
    assert.deepEqual(double.loginLog.map((l) => [l.jwt, l.status]), [['jwt-a', 200], ['jwt-a', 400], [undefined, 400], ['jwt-a', 400], ['jwt-b', 403], ['jwt-b', 200]])
    assert.equal(double.logins['kubernetes'], 2)
  })
})

await describe('Vault double: health, seal, quota, outage', async () => {
  await it('reports health with Vault\'s body and status codes, and honours overrides', async (t) => {
    const double = await start(t)
    const active = await call(double, 'GET', '/v1/sys/health')
    assert.equal(active.status, 200)
    for (const key of ['initialized', 'sealed', 'standby', 'performance_standby', 'replication_performance_mode', 'replication_dr_mode', 'server_time_utc', 'version', 'cluster_name', 'cluster_id']) {
      assert.ok(key in active.body, key)
    }
    assert.equal('errors' in active.body, false)

    double.setStandby('standby')
    assert.equal((await call(double, 'GET', '/v1/sys/health')).status, 429)
    assert.equal((await call(double, 'GET', '/v1/sys/health?standbyok=true')).status, 200)
    assert.equal((await call(double, 'GET', '/v1/sys/health?standbycode=299')).status, 299)
    double.setStandby('performance')
    const perf = await call(double, 'GET', '/v1/sys/health?standbyok=true')
    assert.equal(perf.status, 473)
    assert.equal(perf.body['performance_standby'], true)
    double.setStandby(false)

    double.seal()
    const sealed = await call(double, 'GET', '/v1/sys/health')
    assert.equal(sealed.status, 503)
    assert.equal(sealed.body['sealed'], true)
    assert.equal('cluster_name' in sealed.body, false)
    assert.equal('cluster_id' in sealed.body, false)
    assert.equal((await call(double, 'GET', '/v1/sys/health?sealedcode=200')).status, 200)

    const bad = await call(double, 'GET', '/v1/sys/health?activecode=abc')
    assert.equal(bad.status, 400)
    assert.equal(bad.text, '{"errors":[]}\n')
    assert.equal((await call(double, 'GET', '/v1/sys/health?standbyok=maybe')).status, 400)
  })

  await it('answers every other path with 503 "Vault is sealed" while sealed', async (t) => {
    const double = await start(t, { approle })
    double.writeSecret('secret', 'a', { a: '1' })
    double.seal()
    for (const [method, path] of [['GET', '/v1/secret/data/a'], ['POST', '/v1/auth/approle/login'], ['GET', '/v1/auth/token/lookup-self']] as const) {
      const res = await call(double, method, path, { token: 'root-token', ...(method === 'POST' ? { body: {} } : {}) })
      assert.equal(res.status, 503, path)
      assert.deepEqual(res.body, { errors: ['Vault is sealed'] })
    }
    double.unseal()
    assert.equal((await call(double, 'GET', '/v1/secret/data/a', { token: 'root-token' })).status, 200)
  })

  await it('answers 429 with the quota message while the quota is exceeded, except health', async (t) => {
    const double = await start(t)
    double.setQuotaExceeded(true)
    const res = await call(double, 'GET', '/v1/secret/data/qlik/eu', { token: 'root-token' })
    assert.equal(res.status, 429)
    assert.deepEqual(res.body, { errors: ['request path "secret/data/qlik/eu": rate limit quota exceeded'] })
    assert.equal((await call(double, 'GET', '/v1/sys/health')).status, 200)
  })

  await it('requires the configured namespace header', async (t) => {
    const double = await start(t, { namespace: 'team-a/' })
    double.writeSecret('secret', 'a', { a: '1' })
    assert.equal((await call(double, 'GET', '/v1/secret/data/a', { token: 'root-token' })).status, 403)
    assert.equal((await call(double, 'GET', '/v1/secret/data/a', { token: 'root-token', headers: { 'X-Vault-Namespace': 'team-a' } })).status, 200)
  })

  await it('stops listening and starts again on the same port with its state', async (t) => {
    const double = await start(t)
    double.writeSecret('secret', 'a', { a: '1' })
    const port = double.port
    await double.stop()
    await assert.rejects(fetch(`${double.url}/v1/sys/health`))
    await double.start()
    assert.equal(double.port, port)
    assert.equal((await call(double, 'GET', '/v1/secret/data/a', { token: 'root-token' })).status, 200)
  })
})

await describe('Vault double: helpers', async () => {
  await it('parses and prints Go durations', () => {
    assert.equal(parseDuration('1h30m'), 5400)
    assert.equal(parseDuration('30s'), 30)
    assert.equal(parseDuration('90'), 90)
    assert.equal(parseDuration(45), 45)
    assert.equal(parseDuration('soon'), undefined)
    assert.equal(goDuration(3600), '1h0m0s')
    assert.equal(goDuration(150), '2m30s')
    assert.equal(goDuration(7), '7s')
  })
})
