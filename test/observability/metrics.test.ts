import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { DEMO_CLIENTS } from '@qlik-broker/qlik-cloud-simulator'
import { createVaultDouble } from '../doubles/vault-double.js'
import { bearer, http } from '../support/http.js'
import { assertNoLeak } from '../support/leaks.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { sensitiveValues, startStack, type Stack } from '../support/stack.js'
import { scrape, type Scrape } from './prometheus-text.js'

const TENANT_API_ROUTE = '/regions/:region/tenants/:tenant/api/v1/*'
const EU_TENANT = { region: 'eu', host_kind: 'tenant' }
const EU_REGISTER = { region: 'eu', host_kind: 'register' }

/** Everything the scrape must never contain: secrets, tokens, caller keys, tenant ids and hostnames. */
function forbidden (stack: Stack, ...extra: string[]): string[] {
  return [...sensitiveValues(stack), ...Object.values(stack.keys), ...extra]
}

function assertNoTenantLabels (metrics: Scrape, tenantId: string, hostname: string): void {
  for (const line of metrics.text.split('\n')) {
    assert.equal(line.includes(hostname), false, 'a hostname appears in the scrape')
    assert.equal(line.includes(tenantId), false, 'a tenant id appears in the scrape')
    assert.doesNotMatch(line, /qlikcloud\.com/, `a Qlik host in: ${line}`)
  }
}

// A hung request fails the test instead of hanging the run.
await describe('GET /metrics', { timeout: 120_000 }, async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('counts a mint, then a process-layer hit, the calls to Qlik and the answers by route pattern', async (t) => {
    const stack = await startStack(t)
    const admin = bearer(stack.keys.admin)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const hostname = tenant.hostnames[0] ?? ''
    const path = `/regions/eu/tenants/${hostname}/api/v1/users?limit=5`
    const start = await scrape(stack.url)

    const first = await http(stack.url, 'GET', path, { headers: admin })
    assert.equal(first.status, 200, first.text)
    const afterFirst = await scrape(stack.url)
    const delta = (now: Scrape, then: Scrape, name: string, labels?: Record<string, string>): number => now.count(name, labels) - then.count(name, labels)

    assert.equal(delta(afterFirst, start, 'qlik_broker_token_mints_total', { ...EU_TENANT, reason: 'request' }), 1, 'one mint for the tenant host')
    assert.equal(delta(afterFirst, start, 'qlik_broker_token_mints_total', { ...EU_REGISTER, reason: 'request' }), 0)
    assert.equal(delta(afterFirst, start, 'qlik_broker_token_cache_misses_total'), 1)
    assert.equal(delta(afterFirst, start, 'qlik_broker_token_cache_hits_total', { layer: 'process' }), 0)
    assert.equal(delta(afterFirst, start, 'qlik_broker_upstream_requests_total', { ...EU_TENANT, operation: 'token', status: '200' }), 1)
    assert.equal(delta(afterFirst, start, 'qlik_broker_upstream_requests_total', { ...EU_TENANT, operation: 'tenant-api', status: '200' }), 1)

    const second = await http(stack.url, 'GET', path, { headers: admin })
    assert.equal(second.status, 200, second.text)
    const metrics = await scrape(stack.url)
    assert.equal(delta(metrics, afterFirst, 'qlik_broker_token_cache_hits_total', { layer: 'process' }), 1, 'the second request is a process-layer hit')
    assert.equal(delta(metrics, afterFirst, 'qlik_broker_token_cache_misses_total'), 0)
    assert.equal(delta(metrics, afterFirst, 'qlik_broker_token_mints_total', { ...EU_TENANT, reason: 'request' }), 0, 'no second mint')
    assert.equal(delta(metrics, afterFirst, 'qlik_broker_upstream_requests_total', { ...EU_TENANT, operation: 'tenant-api', status: '200' }), 1)
    assert.equal(metrics.count('qlik_broker_token_cache_hits_total', { layer: 'store' }), 0, 'no shared store without Redis')

    // The broker's own answers, by route pattern: the two calls, and the scrapes (GET /metrics) themselves.
    assert.equal(metrics.count('qlik_broker_http_requests_total', { method: 'GET', route: TENANT_API_ROUTE, status: '200' }), 2)
    assert.equal(metrics.count('qlik_broker_http_request_duration_seconds_count', { method: 'GET', route: TENANT_API_ROUTE, status_class: '2xx' }), 2)
    assert.ok(metrics.count('qlik_broker_http_request_duration_seconds_sum', { method: 'GET', route: TENANT_API_ROUTE, status_class: '2xx' }) > 0)
    assert.equal(metrics.count('qlik_broker_http_requests_total', { method: 'GET', route: '/metrics', status: '200' }), 2, 'the two scrapes before this one')
    assert.equal(metrics.count('qlik_broker_upstream_request_duration_seconds_count', { ...EU_TENANT, operation: 'tenant-api', status_class: '2xx' }), 2)
    assert.equal(metrics.count('qlik_broker_upstream_request_duration_seconds_bucket', { ...EU_TENANT, operation: 'token', status_class: '2xx', le: '+Inf' }), 1)

    // Gauges computed at scrape time.
    const lifetime = metrics.value('qlik_broker_token_remaining_lifetime_seconds', EU_TENANT) ?? -1
    assert.ok(lifetime > 21_600 - 60 && lifetime <= 21_600, `the simulator's 6 h token has about 6 h left (${lifetime})`)
    assert.equal(metrics.value('qlik_broker_tokens_held', EU_TENANT), 1)
    assert.equal(metrics.value('qlik_broker_token_remaining_lifetime_seconds', { region: 'us', host_kind: 'tenant' }), undefined, 'no series for a key without a token')
    assert.equal(metrics.value('qlik_broker_region_credentials_status', { region: 'eu', status: 'ok' }), 1, 'eu minted: ok')
    assert.equal(metrics.value('qlik_broker_region_credentials_status', { region: 'eu', status: 'loaded' }), 0)
    assert.equal(metrics.value('qlik_broker_region_credentials_status', { region: 'us', status: 'loaded' }), 1, 'us read but never used: loaded')
    const euSeries = metrics.series('qlik_broker_region_credentials_status').filter((series) => series.labels.region === 'eu')
    assert.deepEqual(euSeries.map((series) => series.labels.status).sort(), ['loaded', 'ok', 'rejected', 'unavailable', 'unknown'])
    assert.equal(euSeries.reduce((sum, series) => sum + series.value, 0), 1, 'exactly one current status per region')
    assert.equal(metrics.value('qlik_broker_ready'), 1)
    assert.equal(metrics.value('qlik_broker_secrets_source_reachable', { source: 'file' }), 1)
    assert.equal(metrics.value('qlik_broker_redis_up'), undefined, 'no Redis gauge without Redis')
    assert.equal(metrics.value('qlik_broker_circuit_breaker_hosts', { ...EU_TENANT, state: 'open' }), 0)

    // Counters known in advance exist at 0 before anything happens.
    assert.equal(metrics.value('qlik_broker_token_mints_total', { region: 'jp', host_kind: 'register', reason: 'refresh' }), 0)
    assert.equal(metrics.value('qlik_broker_upstream_rate_limited_total', { region: 'jp', host_kind: 'tenant' }), 0)
    assert.equal(metrics.value('qlik_broker_vault_requests_total', { operation: 'read', outcome: 'ok' }), undefined, 'no Vault series with the file source')

    // prom-client's process metrics, with the broker's prefix.
    assert.ok(metrics.count('qlik_broker_process_cpu_user_seconds_total') > 0)
    assert.ok(metrics.count('qlik_broker_process_resident_memory_bytes') > 0)
    assert.ok(metrics.value('qlik_broker_nodejs_eventloop_lag_seconds') !== undefined)
    assert.ok(metrics.series('qlik_broker_nodejs_version_info').length === 1)

    assertNoTenantLabels(metrics, tenant.id, hostname)
    assertNoLeak({ scrape: metrics.text }, forbidden(stack, hostname, tenant.id))
  })

  await it('labels the lifecycle calls by operation on the register host, and the tenant lookup as a tenants read', async (t) => {
    const stack = await startStack(t)
    const admin = bearer(stack.keys.admin)
    const created = await http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: admin, body: { licenseKey: 'lk-metrics' } })
    assert.equal(created.status, 201, created.text)
    const tenant = created.json<{ id: string, hostnames: string[] }>()
    const hostname = tenant.hostnames[0] ?? ''
    const byId = `/regions/eu/api/v1/tenants/${tenant.id}`
    assert.equal((await http(stack.url, 'GET', byId, { headers: admin })).status, 200)
    assert.equal((await http(stack.url, 'PATCH', byId, { headers: admin, body: [{ op: 'replace', path: '/name', value: 'metrics' }] })).status, 204)
    assert.equal((await http(stack.url, 'POST', `${byId}/actions/deactivate`, { headers: { ...admin, 'qlik-confirm-hostname': hostname }, body: {} })).status, 200)
    assert.equal((await http(stack.url, 'POST', `${byId}/actions/reactivate`, { headers: { ...admin, 'qlik-confirm-hostname': hostname } })).status, 200)
    // By tenant id on the tenant-level route: the broker's registry places it (no lookup at Qlik); /users/me is Qlik's redirect.
    assert.equal((await http(stack.url, 'GET', `/regions/eu/tenants/${tenant.id}/api/v1/users/me`, { headers: admin })).status, 302)

    const metrics = await scrape(stack.url)
    const upstream = (labels: Record<string, string>): number => metrics.count('qlik_broker_upstream_requests_total', labels)
    assert.equal(upstream({ ...EU_REGISTER, operation: 'token', status: '200' }), 1, 'one token for the register host, used for create, deactivate and reactivate')
    assert.equal(upstream({ ...EU_REGISTER, operation: 'tenants.create', status: '201' }), 1)
    assert.equal(upstream({ ...EU_REGISTER, operation: 'tenants.read', status: '200' }), 0, 'GET of a tenant goes to its own host, and no host lookup was needed')
    assert.equal(upstream({ ...EU_TENANT, operation: 'tenants.read', status: '200' }), 1)
    assert.equal(upstream({ ...EU_TENANT, operation: 'tenants.update', status: '204' }), 1)
    assert.equal(upstream({ ...EU_REGISTER, operation: 'tenants.deactivate', status: '200' }), 1)
    assert.equal(upstream({ ...EU_REGISTER, operation: 'tenants.reactivate', status: '200' }), 1)
    assert.equal(upstream({ ...EU_TENANT, operation: 'token', status: '200' }), 1)
    assert.equal(upstream({ ...EU_TENANT, operation: 'tenant-api', status: '302' }), 1)
    assert.equal(metrics.count('qlik_broker_token_mints_total', { ...EU_REGISTER, reason: 'request' }), 1)
    assert.equal(metrics.count('qlik_broker_token_mints_total', { ...EU_TENANT, reason: 'request' }), 1)
    assert.equal(metrics.value('qlik_broker_tokens_held', EU_REGISTER), 1)
    assert.equal(metrics.count('qlik_broker_http_requests_total', { method: 'POST', route: '/regions/:region/api/v1/tenants/:tenantId/actions/deactivate', status: '200' }), 1)
    const operations = new Set(metrics.series('qlik_broker_upstream_requests_total').map((series) => series.labels.operation))
    assert.deepEqual([...operations].sort(), ['tenant-api', 'tenants.create', 'tenants.deactivate', 'tenants.reactivate', 'tenants.read', 'tenants.update', 'token'])
    assertNoTenantLabels(metrics, tenant.id, hostname)
    assertNoLeak({ scrape: metrics.text }, forbidden(stack, hostname, tenant.id))
  })

  await it('counts 429s and failed mints from Qlik, and labels unmatched URLs without the URL', async (t) => {
    const stack = await startStack(t)
    const admin = bearer(stack.keys.admin)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const hostname = tenant.hostnames[0] ?? ''

    // The first mint fails (Qlik 500 on /oauth/token): no token, the caller gets a problem.
    stack.simulator.setFaults({ errorRate: 1, errorStatus: 500, hosts: [hostname], paths: ['/oauth/token'], times: 1 })
    const failed = await http(stack.url, 'GET', `/regions/eu/tenants/${hostname}/api/v1/spaces`, { headers: admin })
    assert.equal(failed.status, 502, failed.text)
    let metrics = await scrape(stack.url)
    assert.equal(metrics.count('qlik_broker_token_mint_failures_total', EU_TENANT), 1)
    assert.equal(metrics.count('qlik_broker_token_mints_total', { ...EU_TENANT, reason: 'request' }), 0)
    assert.equal(metrics.count('qlik_broker_upstream_requests_total', { ...EU_TENANT, operation: 'token', status: '500' }), 1)
    assert.equal(metrics.count('qlik_broker_http_requests_total', { method: 'GET', route: TENANT_API_ROUTE, status: '502' }), 1)
    assert.equal(metrics.count('qlik_broker_http_request_duration_seconds_count', { method: 'GET', route: TENANT_API_ROUTE, status_class: '5xx' }), 1)

    // One 429 from Qlik on the call itself (the broker may retry it after Retry-After).
    stack.simulator.setFaults({ rateLimitRate: 1, retryAfterSeconds: 1, hosts: [hostname], paths: ['/api/v1/spaces'], times: 1 })
    const limited = await http(stack.url, 'GET', `/regions/eu/tenants/${hostname}/api/v1/spaces`, { headers: admin })
    assert.ok(limited.status === 200 || limited.status === 429, limited.text)
    metrics = await scrape(stack.url)
    assert.equal(metrics.count('qlik_broker_upstream_rate_limited_total', EU_TENANT), 1, 'exactly the one 429 Qlik sent')
    assert.equal(metrics.count('qlik_broker_upstream_requests_total', { ...EU_TENANT, operation: 'tenant-api', status: '429' }), 1)
    assert.equal(metrics.count('qlik_broker_upstream_rate_limited_total', EU_REGISTER), 0)

    const lost = await http(stack.url, 'GET', `/nowhere/${hostname}/${tenant.id}`)
    assert.equal(lost.status, 404)
    metrics = await scrape(stack.url)
    assert.equal(metrics.count('qlik_broker_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1)
    assertNoTenantLabels(metrics, tenant.id, hostname)
    assertNoLeak({ scrape: metrics.text }, forbidden(stack, hostname, tenant.id))
  })

  await it('counts store-layer hits between replicas sharing Redis, and store errors while Redis is down', async (t) => {
    const first = await startStack(t, { redis })
    const prefix = first.broker.deps.config.cache.keyPrefix
    // A second replica: same Redis prefix, same Qlik (the first stack's simulator).
    const second = await startStack(t, { redis, env: { REDIS_KEY_PREFIX: prefix, CACHE_ENCRYPTION_KEYS: first.broker.deps.config.cache.encryptionKeys ?? '', QLIK_UPSTREAM_ORIGIN: first.simulator.url } })
    const tenant = first.simulator.addTenant({ region: 'eu' })
    const hostname = tenant.hostnames[0] ?? ''
    const path = `/regions/eu/tenants/${hostname}/api/v1/users`

    assert.equal((await http(first.url, 'GET', path, { headers: bearer(first.keys.admin) })).status, 200)
    assert.equal((await http(second.url, 'GET', path, { headers: bearer(second.keys.admin) })).status, 200)
    const a = await scrape(first.url)
    const b = await scrape(second.url)
    assert.equal(a.count('qlik_broker_token_mints_total', { ...EU_TENANT, reason: 'request' }), 1)
    assert.equal(b.count('qlik_broker_token_mints_total', { ...EU_TENANT, reason: 'request' }), 0, 'the second replica minted nothing')
    assert.equal(b.count('qlik_broker_token_cache_hits_total', { layer: 'store' }), 1, 'it took the token from Redis')
    assert.equal(b.count('qlik_broker_token_cache_misses_total'), 1)
    assert.equal(b.value('qlik_broker_redis_up'), 1)
    assert.equal(b.count('qlik_broker_token_store_errors_total'), 0)

    await redis.stop()
    try {
      const other = first.simulator.addTenant({ region: 'eu' })
      const served = await http(second.url, 'GET', `/regions/eu/tenants/${other.hostnames[0] ?? ''}/api/v1/users`, { headers: bearer(second.keys.admin) })
      assert.equal(served.status, 200, 'served without Redis')
      const down = await scrape(second.url)
      assert.equal(down.value('qlik_broker_redis_up'), 0)
      assert.ok(down.count('qlik_broker_token_store_errors_total') >= 1, 'store errors counted')
      assert.equal(down.count('qlik_broker_token_mints_total', { ...EU_TENANT, reason: 'request' }), 1, 'minted locally')
      assertNoLeak({ first: a.text, second: down.text }, forbidden(first, hostname, tenant.id))
    } finally {
      await redis.start()
    }
  })

  await it('counts Vault logins and reads, and shows a region Vault has no secret for as unknown', async (t) => {
    const roleId = 'metrics-role-id-7c1f'
    const secretId = 'metrics-secret-id-95ab3e'
    const vault = await createVaultDouble({ approle: { roles: [{ roleName: 'broker', roleId, secretId }], ttlSeconds: 600, allowedPaths: ['secret/'] } })
    t.after(() => vault.close())
    const missing = 'jp'
    for (const client of DEMO_CLIENTS) {
      if (client.region !== missing) vault.writeSecret('secret', `qlik/regions/${client.region}`, { client_id: client.clientId, client_secret: client.clientSecret })
    }
    const stack = await startStack(t, { env: { SECRETS_SOURCE: 'vault', VAULT_ADDR: vault.url, VAULT_AUTH_METHOD: 'approle', VAULT_ROLE_ID: roleId, VAULT_SECRET_ID: secretId } })
    const metrics = await scrape(stack.url)
    assert.equal(metrics.count('qlik_broker_vault_requests_total', { operation: 'login', outcome: 'ok' }), 1)
    assert.ok(metrics.count('qlik_broker_vault_requests_total', { operation: 'read', outcome: 'ok' }) >= DEMO_CLIENTS.length - 1)
    assert.ok(metrics.count('qlik_broker_vault_requests_total', { operation: 'read', outcome: 'error' }) >= 1, 'the missing secret')
    assert.equal(metrics.value('qlik_broker_vault_requests_total', { operation: 'login', outcome: 'error' }), 0, 'every Vault series exists once Vault is used')
    assert.equal(metrics.value('qlik_broker_region_credentials_status', { region: missing, status: 'unknown' }), 1)
    assert.equal(metrics.value('qlik_broker_region_credentials_status', { region: 'eu', status: 'loaded' }), 1)
    assert.equal(metrics.value('qlik_broker_ready'), 1, 'one region without credentials leaves the replica ready: it shows in region_credentials_status')
    assert.equal(metrics.value('qlik_broker_secrets_source_reachable', { source: 'vault' }), 1)
    assertNoLeak({ scrape: metrics.text }, [...forbidden(stack), secretId, ...vault.issuedTokens])
  })

  await it('needs no credential and is not in the OpenAPI document', async (t) => {
    const stack = await startStack(t)
    const response = await http(stack.url, 'GET', '/metrics', { headers: { authorization: 'Bearer nonsense' } })
    assert.equal(response.status, 200, 'a wrong credential is ignored: the route is public')
    const committed = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as { paths: Record<string, unknown> }
    assert.equal(committed.paths['/metrics'], undefined)
    const served = await http(stack.url, 'GET', '/openapi.json')
    assert.equal(served.json<{ paths: Record<string, unknown> }>().paths['/metrics'], undefined)
  })
})
