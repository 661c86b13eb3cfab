import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadConfig } from '../../src/config/load-config.js'
import { upstreamOperation } from '../../src/observability/metrics-labels.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { createCircuitBreaker } from '../../src/qlik/circuit-breaker.js'
import { parseScrape } from './prometheus-text.js'

const regions = loadConfig({ QLIK_REGIONS: 'eu,us' }).regions
const EU_TENANT = { region: 'eu', host_kind: 'tenant' }

await describe('broker metrics from events', async () => {
  await it('counts every token event kind under bounded labels', async () => {
    const metrics = createMetrics({ regions })
    metrics.onTokenEvent({ type: 'lock-wait' })
    metrics.onTokenEvent({ type: 'lock-wait' })
    metrics.onTokenEvent({ type: 'store-error' })
    metrics.onTokenEvent({ type: 'refresh-adopted', region: 'eu', host: 'acme.eu.qlikcloud.com' })
    metrics.onTokenEvent({ type: 'mint', region: 'eu', host: 'register.eu.qlikcloud.com', reason: 'refresh' })
    metrics.onTokenEvent({ type: 'mint-failed', region: 'us', host: 'register.us.qlikcloud.com' })
    metrics.onTokenEvent({ type: 'hit', layer: 'store' })
    metrics.onTokenEvent({ type: 'host-refused', region: 'eu', host: 'nosuchtenant.eu.qlikcloud.com' })
    const scrape = parseScrape(await metrics.scrape())
    assert.equal(scrape.value('qlik_broker_token_lock_waits_total'), 2)
    assert.equal(scrape.value('qlik_broker_token_store_errors_total'), 1)
    assert.equal(scrape.value('qlik_broker_token_refresh_adoptions_total', EU_TENANT), 1)
    assert.equal(scrape.value('qlik_broker_token_mints_total', { region: 'eu', host_kind: 'register', reason: 'refresh' }), 1)
    assert.equal(scrape.value('qlik_broker_token_mint_failures_total', { region: 'us', host_kind: 'register' }), 1)
    assert.equal(scrape.value('qlik_broker_token_cache_hits_total', { layer: 'store' }), 1)
    assert.equal(scrape.value('qlik_broker_token_host_refusals_total', { region: 'eu' }), 1, 'counted per region, never per host')
    assert.doesNotMatch(scrape.text, /qlikcloud/)
  })

  await it('reports the soonest expiry per (region, host kind) at scrape time, and drops keys no longer held', async () => {
    let now = 1_000_000
    let held = [
      { region: 'eu', host: 'a.eu.qlikcloud.com', expiresAt: now + 600_000 },
      { region: 'eu', host: 'b.eu.qlikcloud.com', expiresAt: now + 90_000 },
      { region: 'eu', host: 'register.eu.qlikcloud.com', expiresAt: now + 3_600_000 }
    ]
    const metrics = createMetrics({ regions, now: () => now })
    metrics.watch({ tokens: { held: () => held } })
    let scrape = parseScrape(await metrics.scrape())
    assert.equal(scrape.value('qlik_broker_token_remaining_lifetime_seconds', EU_TENANT), 90)
    assert.equal(scrape.value('qlik_broker_tokens_held', EU_TENANT), 2)
    assert.equal(scrape.value('qlik_broker_token_remaining_lifetime_seconds', { region: 'eu', host_kind: 'register' }), 3600)
    now += 30_000
    held = held.slice(2)
    scrape = parseScrape(await metrics.scrape())
    assert.equal(scrape.value('qlik_broker_token_remaining_lifetime_seconds', EU_TENANT), undefined, 'no tenant token held any more')
    assert.equal(scrape.value('qlik_broker_token_remaining_lifetime_seconds', { region: 'eu', host_kind: 'register' }), 3570)
  })

  await it('shows open and half-open circuit breakers per region and host kind, never the host', async () => {
    let now = 0
    const breaker = createCircuitBreaker({ failureThreshold: 2, cooldownMs: 1_000, now: () => now })
    const metrics = createMetrics({ regions })
    metrics.watch({ breaker })
    for (const host of ['a.eu.qlikcloud.com', 'b.eu.qlikcloud.com', 'register.us.qlikcloud.com']) {
      breaker.failed(host)
      breaker.failed(host)
    }
    breaker.failed('c.eu.qlikcloud.com')
    let scrape = parseScrape(await metrics.scrape())
    assert.equal(scrape.value('qlik_broker_circuit_breaker_hosts', { ...EU_TENANT, state: 'open' }), 2, 'c has failed once only: closed')
    assert.equal(scrape.value('qlik_broker_circuit_breaker_hosts', { region: 'us', host_kind: 'register', state: 'open' }), 1)
    assert.equal(scrape.value('qlik_broker_circuit_breaker_hosts', { region: 'us', host_kind: 'tenant', state: 'open' }), 0)
    now = 1_500
    scrape = parseScrape(await metrics.scrape())
    assert.equal(scrape.value('qlik_broker_circuit_breaker_hosts', { ...EU_TENANT, state: 'half-open' }), 2, 'after the cool-down')
    assert.equal(scrape.value('qlik_broker_circuit_breaker_hosts', { ...EU_TENANT, state: 'open' }), 0)
    assert.doesNotMatch(scrape.text, /qlikcloud/)
  })

  await it('names the upstream operation from method and path, from a bounded set', () => {
    const cases: Array<[string, string, string]> = [
      ['POST', '/oauth/token', 'token'],
      ['POST', '/api/v1/tenants', 'tenants.create'],
      ['GET', '/api/v1/tenants', 'tenant-api'],
      ['GET', '/api/v1/tenants/TiQ8GPVr8qI714Lp5ChAAFFaU24MJy69', 'tenants.read'],
      ['GET', '/api/v1/tenants/me?x=1', 'tenants.read'],
      ['PATCH', '/api/v1/tenants/abc', 'tenants.update'],
      ['DELETE', '/api/v1/tenants/abc', 'tenant-api'],
      ['POST', '/api/v1/tenants/abc/actions/deactivate', 'tenants.deactivate'],
      ['POST', '/api/v1/tenants/abc/actions/reactivate', 'tenants.reactivate'],
      ['GET', '/api/v1/tenants/abc/actions/reactivate', 'tenant-api'],
      ['POST', '/api/v1/tenants/abc/actions/purge', 'tenant-api'],
      ['GET', '/api/v1/tenantsettings', 'tenant-api'],
      ['GET', '/api/v1/users/me', 'tenant-api']
    ]
    for (const [method, path, operation] of cases) assert.equal(upstreamOperation(method, path), operation, `${method} ${path}`)
  })
})
