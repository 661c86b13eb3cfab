import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { BrokerError } from '../../../src/http/broker-error.js'
import { ClientRejectedError } from '../../../src/qlik/token-endpoint.js'
import { seal } from '../../../src/secrets/sealed.js'
import { createMemoryTokenStore } from '../../../src/tokens/memory-token-store.js'
import { createTokenProvider, type TokenProvider, type TokenProviderOptions } from '../../../src/tokens/token-provider.js'
import type { TokenStore } from '../../../src/tokens/token-store.js'
import { captureLogs, type CapturedLogs } from '../../support/log-capture.js'
import { assertNoLeak } from '../../support/leaks.js'
import { createFailingTokenStore } from '../fakes/failing-token-store.js'
import { createFakeSecretsSource, type FakeSecretsSource } from '../fakes/fake-secrets-source.js'
import { createFakeTokenEndpoint, type FakeTokenEndpoint } from '../fakes/fake-token-endpoint.js'
import { regionConfig } from '../fakes/regions.js'

const EU = regionConfig('eu')
const US = regionConfig('us')
const HOST = 'acme.eu.qlikcloud.com'
/** A refusal here is evidence about the client itself (docs/reference/qlik-cloud-api.md §11). */
const REGISTER = 'register.eu.qlikcloud.com'
const LIFETIME_MS = 60 * 60_000
const MARGIN_MS = 5 * 60_000
const BACKOFF_MS = 30_000
const SECRET_V1 = 'client-secret-v1-3f9a2c'
const SECRET_V2 = 'client-secret-v2-81d0be'

interface Harness {
  provider: TokenProvider
  secrets: FakeSecretsSource
  endpoint: FakeTokenEndpoint
  logs: CapturedLogs
  clock: { now: number }
  advance: (ms: number) => void
}

/** A provider over fakes with a clock that only moves when the test says so. */
function harness (t: TestContext, options: { holds: boolean, store?: (now: () => number) => TokenStore, extra?: Partial<TokenProviderOptions> }): Harness {
  const clock = { now: Date.UTC(2026, 0, 1) }
  const now = (): number => clock.now
  const logs = captureLogs()
  const secrets = createFakeSecretsSource({
    eu: { clientId: 'client-eu', clientSecret: SECRET_V1, version: 'v1' },
    us: { clientId: 'client-us', clientSecret: 'client-secret-us-77aa01', version: 'u1' }
  }, { holds: options.holds })
  const endpoint = createFakeTokenEndpoint({ now, lifetimeMs: LIFETIME_MS })
  const provider = createTokenProvider({
    secrets,
    store: (options.store ?? createMemoryTokenStore)(now),
    endpoint,
    expiryMarginMs: MARGIN_MS,
    logger: logs.logger,
    now,
    rejectedBackoffMs: BACKOFF_MS,
    ...options.extra
  })
  t.after(() => { provider.close() })
  return { provider, secrets, endpoint, logs, clock, advance: (ms) => { clock.now += ms } }
}

function rejectAll (endpoint: FakeTokenEndpoint): void {
  endpoint.answerWith((call) => { throw new ClientRejectedError(call.target.host, 401) })
}

/** Qlik rejects every mint with the v1 secret, and by then the store holds v2: what a rotation in My Qlik looks like to a mint. */
function rotateWhenRejected ({ secrets, endpoint, clock }: Pick<Harness, 'secrets' | 'endpoint' | 'clock'>): void {
  endpoint.answerWith((call, index) => {
    if (call.version === 'v1') {
      secrets.put('eu', { clientId: 'client-eu', clientSecret: SECRET_V2, version: 'v2' })
      throw new ClientRejectedError(call.target.host, 401)
    }
    return { accessToken: seal(`token-${index + 1}`), issuedAt: clock.now, expiresAt: clock.now + LIFETIME_MS }
  })
}

async function rejection (promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof BrokerError, `expected a BrokerError, got ${String(error)}`)
    return error
  }
  assert.fail('expected the promise to reject')
}

// Every case twice: with a secrets source that only answers get() (a promise per request), and with one that also
// answers held() from memory, as the file and Vault sources do (a cache hit in the same turn).
for (const holds of [false, true]) {
  await describe(`token provider, ${holds ? 'with a source that holds its credentials (held())' : 'with a source that only answers get()'}`, async () => {
    await describe('caching', async () => {
      await it('mints once and serves the cached token when the same host is asked again', async (t) => {
        const { provider, endpoint } = harness(t, { holds })
        const first = await provider.get(EU, HOST)
        const second = await provider.get(EU, HOST)
        assert.equal(first.accessToken.reveal(), 'token-1')
        assert.equal(second.accessToken.reveal(), 'token-1')
        assert.equal(endpoint.calls.length, 1)
        assert.equal(second.cacheKey, first.cacheKey)
      })

      await it('serves a cached token from the credentials the source holds without asking it again, or through get() when it cannot say', async (t) => {
        const { provider, secrets } = harness(t, { holds })
        const first = await provider.get(EU, HOST)
        const gets = secrets.calls.get
        const second = await provider.get(EU, HOST)
        assert.equal(second.accessToken.reveal(), first.accessToken.reveal())
        assert.equal(secrets.calls.get - gets, holds ? 0 : 1)
        assert.equal(secrets.calls.held > 0, holds)
      })

      await it('mints on the host asked for with the region\'s credentials and origin', async (t) => {
        const { provider, endpoint } = harness(t, { holds })
        await provider.get(regionConfig('eu', { upstreamOrigin: 'http://127.0.0.1:4100' }), HOST, 'req-1')
        assert.deepEqual(endpoint.calls[0], { target: { host: HOST, origin: 'http://127.0.0.1:4100' }, clientId: 'client-eu', clientSecret: SECRET_V1, version: 'v1', requestId: 'req-1' })
      })

      await it('keeps tokens apart when hosts or regions differ', async (t) => {
        const { provider, endpoint } = harness(t, { holds })
        const a = await provider.get(EU, HOST)
        const b = await provider.get(EU, 'other.eu.qlikcloud.com')
        const c = await provider.get(US, 'register.us.qlikcloud.com')
        assert.deepEqual([a, b, c].map((lease) => lease.accessToken.reveal()), ['token-1', 'token-2', 'token-3'])
        assert.equal(new Set([a.cacheKey, b.cacheKey, c.cacheKey]).size, 3)
        assert.equal(endpoint.calls.length, 3)
      })

      await it('serves the cached token until the expiry margin when time passes', async (t) => {
        const { provider, endpoint, advance } = harness(t, { holds })
        const lease = await provider.get(EU, HOST)
        assert.equal(lease.expiresAt - Date.UTC(2026, 0, 1), LIFETIME_MS)
        advance(LIFETIME_MS - MARGIN_MS - 1)
        assert.equal((await provider.get(EU, HOST)).accessToken.reveal(), 'token-1')
        assert.equal(endpoint.calls.length, 1)
      })

      await it('mints a new token instead of using one inside the expiry margin', async (t) => {
        const { provider, endpoint, advance } = harness(t, { holds })
        await provider.get(EU, HOST)
        advance(LIFETIME_MS - MARGIN_MS)
        const lease = await provider.get(EU, HOST)
        assert.equal(lease.accessToken.reveal(), 'token-2')
        assert.equal(endpoint.calls.length, 2)
      })

      await it('never caches a token that is already inside the margin when minted', async (t) => {
        const { provider, endpoint, clock } = harness(t, { holds })
        endpoint.answerWith((_call, index) => ({ accessToken: seal(`short-${index + 1}`), issuedAt: clock.now, expiresAt: clock.now + MARGIN_MS / 2 }))
        await provider.get(EU, HOST)
        await provider.get(EU, HOST)
        assert.equal(endpoint.calls.length, 2)
      })

      await it('mints once for 100 concurrent requests when nothing is cached', async (t) => {
        const { provider, endpoint, clock } = harness(t, { holds })
        let release: () => void = () => {}
        const gate = new Promise<void>((resolve) => { release = resolve })
        endpoint.answerWith(async (_call, index) => {
          await gate
          return { accessToken: seal(`token-${index + 1}`), issuedAt: clock.now, expiresAt: clock.now + LIFETIME_MS }
        })
        const pending = Array.from({ length: 100 }, async () => await provider.get(EU, HOST))
        await new Promise((resolve) => setImmediate(resolve))
        release()
        const leases = await Promise.all(pending)
        assert.equal(endpoint.calls.length, 1)
        assert.ok(leases.every((lease) => lease.accessToken.reveal() === 'token-1'))
      })

      await it('fails every waiter and mints again on the next request when a shared mint fails', async (t) => {
        const { provider, endpoint, clock } = harness(t, { holds })
        endpoint.answerWith(async () => {
          await new Promise((resolve) => setImmediate(resolve))
          throw new BrokerError('QB_TOKEN_UNAVAILABLE', 'Qlik answered HTTP 500')
        })
        const results = await Promise.allSettled(Array.from({ length: 10 }, async () => await provider.get(EU, HOST)))
        assert.ok(results.every((result) => result.status === 'rejected' && result.reason instanceof BrokerError && result.reason.code === 'QB_TOKEN_UNAVAILABLE'))
        assert.equal(endpoint.calls.length, 1)
        endpoint.answerWith(() => ({ accessToken: seal('token-after-failure'), issuedAt: clock.now, expiresAt: clock.now + LIFETIME_MS }))
        assert.equal((await provider.get(EU, HOST)).accessToken.reveal(), 'token-after-failure')
      })

      await it('reuses a token another replica stored when the shared store has one', async (t) => {
        const shared = createMemoryTokenStore(() => Date.UTC(2026, 0, 1))
        const first = harness(t, { holds, store: () => shared })
        const second = harness(t, { holds, store: () => shared })
        const lease = await first.provider.get(EU, HOST)
        assert.equal((await second.provider.get(EU, HOST)).accessToken.reveal(), lease.accessToken.reveal())
        assert.equal(second.endpoint.calls.length, 0)
      })
    })

    await describe('store failure', async () => {
      await it('still returns a minted token and logs a warning when every store call rejects', async (t) => {
        const store = createFailingTokenStore()
        const { provider, endpoint, logs } = harness(t, { holds, store: () => store })
        const lease = await provider.get(EU, HOST)
        assert.equal(lease.accessToken.reveal(), 'token-1')
        assert.ok(store.calls.get > 0, 'the store was asked first')
        const warnings = logs.lines.map((line) => JSON.parse(line) as { level: string, msg: string, err?: string }).filter((entry) => entry.level === 'warn')
        assert.ok(warnings.some((entry) => /token store unavailable/.test(entry.msg) && entry.err === 'connect ECONNREFUSED 127.0.0.1:6379'), logs.text())
        assertNoLeak({ logs: logs.text() }, [SECRET_V1])
        assert.equal(logs.text().includes('"token-1"'), false)

        assert.equal((await provider.get(EU, HOST)).accessToken.reveal(), 'token-1', 'the in-process cache still serves')
        assert.equal(endpoint.calls.length, 1)
      })

      await it('forgets the token in process and does not throw when invalidating with the store down', async (t) => {
        const store = createFailingTokenStore()
        const { provider, endpoint } = harness(t, { holds, store: () => store })
        const lease = await provider.get(EU, HOST)
        await provider.invalidate(lease)
        assert.equal(store.calls.deleteIfMatches, 1)
        assert.equal((await provider.get(EU, HOST)).accessToken.reveal(), 'token-2')
        assert.equal(endpoint.calls.length, 2)
      })
    })

    await describe('invalidate', async () => {
      await it('drops the token from process and store when Qlik refused exactly that token', async (t) => {
        const { provider, endpoint } = harness(t, { holds })
        const lease = await provider.get(EU, HOST)
        await provider.invalidate(lease)
        assert.equal((await provider.get(EU, HOST)).accessToken.reveal(), 'token-2')
        assert.equal(endpoint.calls.length, 2)
      })

      await it('keeps the cached token when the lease names a different token', async (t) => {
        const { provider, endpoint } = harness(t, { holds })
        const lease = await provider.get(EU, HOST)
        await provider.invalidate({ ...lease, accessToken: seal('token-someone-else') })
        assert.equal((await provider.get(EU, HOST)).accessToken.reveal(), 'token-1')
        assert.equal(endpoint.calls.length, 1)
      })

      await it('keeps a newer token when an old lease is invalidated late', async (t) => {
        const { provider, endpoint } = harness(t, { holds })
        const old = await provider.get(EU, HOST)
        await provider.invalidate(old)
        const fresh = await provider.get(EU, HOST)
        await provider.invalidate(old)
        assert.equal((await provider.get(EU, HOST)).accessToken.reveal(), fresh.accessToken.reveal())
        assert.equal(endpoint.calls.length, 2)
      })

      await it('keeps tokens of other hosts when one host\'s token is invalidated', async (t) => {
        const { provider, endpoint } = harness(t, { holds })
        const a = await provider.get(EU, HOST)
        await provider.get(EU, 'other.eu.qlikcloud.com')
        await provider.invalidate(a)
        assert.equal((await provider.get(EU, 'other.eu.qlikcloud.com')).accessToken.reveal(), 'token-2')
        assert.equal(endpoint.calls.length, 2)
      })
    })

    await describe('rejected client credentials', async () => {
      await it('mints with the new secret when Qlik rejects the client and the store has a newer version', async (t) => {
        const { provider, secrets, endpoint, clock } = harness(t, { holds })
        rotateWhenRejected({ secrets, endpoint, clock })
        const lease = await provider.get(EU, HOST)
        assert.equal(lease.accessToken.reveal(), 'token-2')
        assert.deepEqual(endpoint.calls.map((call) => [call.version, call.clientSecret]), [['v1', SECRET_V1], ['v2', SECRET_V2]])
        assert.equal(secrets.calls.refresh, 1)
        assert.equal(provider.credentialState('eu').status, 'ok')
      })

      await it('mints a fresh token after invalidating one minted with a rotated secret', async (t) => {
        const { provider, secrets, endpoint, clock } = harness(t, { holds })
        rotateWhenRejected({ secrets, endpoint, clock })
        const lease = await provider.get(EU, HOST)
        await provider.invalidate(lease)
        const next = await provider.get(EU, HOST)
        assert.notEqual(next.accessToken.reveal(), lease.accessToken.reveal(), 'the token Qlik refused is not served again')
      })

      await it('fails with QB_CREDENTIALS_REJECTED and reports the region rejected when the store has no newer secret', async (t) => {
        const { provider, secrets, endpoint, clock } = harness(t, { holds })
        rejectAll(endpoint)
        const error = await rejection(provider.get(EU, REGISTER))
        assert.equal(error.code, 'QB_CREDENTIALS_REJECTED')
        assert.equal(error.statusCode, 502)
        assert.equal(secrets.calls.refresh, 1)
        assert.equal(endpoint.calls.length, 1)
        const state = provider.credentialState('eu')
        assert.equal(state.status, 'rejected')
        assert.equal(state.retryAt, clock.now + BACKOFF_MS)
        assert.equal(state.since, clock.now)
        assert.match(state.detail ?? '', /rejected the regional client \(HTTP 401\)/)
        assert.equal(provider.credentialState('us').status, 'unknown')
      })

      await it('makes no mint attempt during the back-off and answers with retry-after', async (t) => {
        const { provider, endpoint, advance } = harness(t, { holds })
        rejectAll(endpoint)
        await rejection(provider.get(EU, REGISTER))
        advance(BACKOFF_MS - 10_500)
        const paused = await rejection(provider.get(EU, 'other.eu.qlikcloud.com'))
        assert.equal(paused.code, 'QB_CREDENTIALS_REJECTED')
        assert.equal(paused.headers['retry-after'], '11')
        await rejection(provider.get(EU, REGISTER))
        assert.equal(endpoint.calls.length, 1, 'no further mint during the back-off')
      })

      await it('tries again after the back-off and doubles it when Qlik still rejects', async (t) => {
        const { provider, endpoint, advance, clock } = harness(t, { holds })
        rejectAll(endpoint)
        await rejection(provider.get(EU, REGISTER))
        advance(BACKOFF_MS)
        await rejection(provider.get(EU, REGISTER))
        assert.equal(endpoint.calls.length, 2)
        assert.equal(provider.credentialState('eu').retryAt, clock.now + 2 * BACKOFF_MS)
      })

      await it('mints and reports ok again when the client is accepted after the back-off', async (t) => {
        const { provider, endpoint, advance, clock } = harness(t, { holds })
        rejectAll(endpoint)
        await rejection(provider.get(EU, REGISTER))
        advance(BACKOFF_MS + 1)
        endpoint.answerWith(() => ({ accessToken: seal('token-accepted'), issuedAt: clock.now, expiresAt: clock.now + LIFETIME_MS }))
        assert.equal((await provider.get(EU, REGISTER)).accessToken.reveal(), 'token-accepted')
        assert.deepEqual(provider.credentialState('eu'), { status: 'ok', since: clock.now, retryAt: undefined, detail: undefined })
      })

      await it('mints at once during the back-off when a new secret version appears in the store', async (t) => {
        const { provider, secrets, endpoint, clock } = harness(t, { holds })
        rejectAll(endpoint)
        await rejection(provider.get(EU, REGISTER))
        secrets.put('eu', { clientId: 'client-eu', clientSecret: SECRET_V2, version: 'v2' })
        endpoint.answerWith(() => ({ accessToken: seal('token-v2'), issuedAt: clock.now, expiresAt: clock.now + LIFETIME_MS }))
        assert.equal((await provider.get(EU, REGISTER)).accessToken.reveal(), 'token-v2')
        assert.equal(endpoint.calls.at(-1)?.version, 'v2')
      })

      await it('keeps other regions minting when one region is rejected', async (t) => {
        const { provider, endpoint, clock } = harness(t, { holds })
        endpoint.answerWith((call, index) => {
          if (call.clientId === 'client-eu') throw new ClientRejectedError(call.target.host, 401)
          return { accessToken: seal(`token-${index + 1}`), issuedAt: clock.now, expiresAt: clock.now + LIFETIME_MS }
        })
        await rejection(provider.get(EU, REGISTER))
        assert.equal((await provider.get(US, 'register.us.qlikcloud.com')).accessToken.reveal(), 'token-2')
      })

      await it('never puts the client secret in logs or errors when the client is rejected', async (t) => {
        const { provider, endpoint, logs } = harness(t, { holds })
        rejectAll(endpoint)
        const first = await rejection(provider.get(EU, REGISTER))
        const second = await rejection(provider.get(EU, REGISTER))
        assertNoLeak({ logs: logs.text(), errors: `${first.message} ${second.message} ${JSON.stringify(first)}` }, [SECRET_V1])
      })
    })

    await describe('refusals on one tenant host', async () => {
      const UNKNOWN = 'nosuchtenant.eu.qlikcloud.com'
      const refuseOn = (endpoint: FakeTokenEndpoint, now: () => number, status: number, hosts: readonly string[]): void => {
        endpoint.answerWith((call, index) => {
          if (hosts.includes(call.target.host)) throw new ClientRejectedError(call.target.host, status)
          return { accessToken: seal(`token-${index + 1}`), issuedAt: now(), expiresAt: now() + LIFETIME_MS }
        })
      }

      await it('fails only that host with QB_TENANT_HOST_REFUSED when a tenant host never seen before refuses the client', async (t) => {
        const { provider, endpoint, secrets, clock, logs } = harness(t, { holds })
        refuseOn(endpoint, () => clock.now, 401, [UNKNOWN])
        const error = await rejection(provider.get(EU, UNKNOWN))
        assert.equal(error.code, 'QB_TENANT_HOST_REFUSED')
        assert.equal(error.statusCode, 404)
        assert.equal(error.headers['retry-after'], '60')
        assert.equal(secrets.calls.refresh, 1, 'the secret was read again once, in case it was rotated')
        assert.equal(provider.credentialState('eu').status, 'unknown', 'the region is not marked rejected')
        assert.equal((await provider.get(EU, HOST)).accessToken.reveal(), 'token-2', 'other hosts of the region still mint')
        assert.equal(provider.credentialState('eu').status, 'ok')
        assertNoLeak({ logs: logs.text(), errors: error.message }, [SECRET_V1])
      })

      await it('answers a refused host from memory until the negative cache expires, then asks Qlik again', async (t) => {
        const { provider, endpoint, secrets, clock, advance } = harness(t, { holds })
        refuseOn(endpoint, () => clock.now, 401, [UNKNOWN])
        await rejection(provider.get(EU, UNKNOWN))
        for (let i = 0; i < 49; i++) assert.equal((await rejection(provider.get(EU, UNKNOWN))).code, 'QB_TENANT_HOST_REFUSED')
        assert.equal(endpoint.calls.length, 1, '50 requests, one token request')
        assert.equal(secrets.calls.refresh, 1)
        advance(60_000)
        await rejection(provider.get(EU, UNKNOWN))
        assert.equal(endpoint.calls.length, 2)
      })

      await it('refuses the host without reading the secret again when Qlik answers 404 (unknown host)', async (t) => {
        const { provider, endpoint, secrets, clock } = harness(t, { holds })
        refuseOn(endpoint, () => clock.now, 404, [UNKNOWN])
        assert.equal((await rejection(provider.get(EU, UNKNOWN))).code, 'QB_TENANT_HOST_REFUSED')
        assert.equal(secrets.calls.refresh, 0)
        assert.notEqual(provider.credentialState('eu').status, 'rejected')
      })

      await it('marks the region rejected when a tenant host that issued tokens before refuses the client after the secret was re-read', async (t) => {
        const { provider, endpoint, secrets, clock } = harness(t, { holds })
        const lease = await provider.get(EU, HOST)
        await provider.invalidate(lease)
        refuseOn(endpoint, () => clock.now, 401, [HOST])
        assert.equal((await rejection(provider.get(EU, HOST))).code, 'QB_CREDENTIALS_REJECTED')
        assert.equal(secrets.calls.refresh, 1)
        assert.equal(provider.credentialState('eu').status, 'rejected')
      })

      await it('counts a host as accepting the client when another replica minted its token, so a later refusal there rejects the region', async (t) => {
        const shared = createMemoryTokenStore(() => Date.UTC(2026, 0, 1))
        const first = harness(t, { holds, store: () => shared })
        const second = harness(t, { holds, store: () => shared })
        await first.provider.get(EU, HOST)
        const lease = await second.provider.get(EU, HOST)
        assert.equal(second.endpoint.calls.length, 0, 'the second replica took the shared token')
        await second.provider.invalidate(lease)
        refuseOn(second.endpoint, () => second.clock.now, 401, [HOST])
        assert.equal((await rejection(second.provider.get(EU, HOST))).code, 'QB_CREDENTIALS_REJECTED')
        assert.equal(second.provider.credentialState('eu').status, 'rejected')
      })

      await it('retries a rejected region in the background at retryAt, asking Qlik even with a register token cached, and recovers without any request', async (t) => {
        t.mock.timers.enable({ apis: ['setTimeout'] })
        const { provider, endpoint, clock, advance } = harness(t, { holds })
        await provider.get(EU, REGISTER)
        await provider.invalidate(await provider.get(EU, HOST))
        rejectAll(endpoint)
        await rejection(provider.get(EU, HOST))
        assert.equal(provider.credentialState('eu').status, 'rejected')
        endpoint.answerWith(() => ({ accessToken: seal('token-recovered'), issuedAt: clock.now, expiresAt: clock.now + LIFETIME_MS }))
        advance(BACKOFF_MS - 1)
        t.mock.timers.tick(BACKOFF_MS - 1)
        await new Promise((resolve) => setImmediate(resolve))
        assert.equal(endpoint.calls.length, 3, 'nothing before retryAt')
        advance(1)
        t.mock.timers.tick(1)
        for (let i = 0; i < 20 && provider.credentialState('eu').status !== 'ok'; i++) await new Promise((resolve) => setImmediate(resolve))
        assert.equal(provider.credentialState('eu').status, 'ok')
        assert.deepEqual(endpoint.calls.map((call) => call.target.host), [REGISTER, HOST, HOST, REGISTER])
        assert.equal((await provider.get(EU, REGISTER)).accessToken.reveal(), 'token-recovered', 'the recovery token is the one served')
      })

      await it('keeps backing off in the background while Qlik still refuses the client', async (t) => {
        t.mock.timers.enable({ apis: ['setTimeout'] })
        const { provider, endpoint, clock, advance } = harness(t, { holds })
        rejectAll(endpoint)
        await rejection(provider.get(EU, REGISTER))
        advance(BACKOFF_MS)
        t.mock.timers.tick(BACKOFF_MS)
        for (let i = 0; i < 20 && endpoint.calls.length < 2; i++) await new Promise((resolve) => setImmediate(resolve))
        await new Promise((resolve) => setImmediate(resolve))
        assert.equal(endpoint.calls.length, 2)
        assert.equal(provider.credentialState('eu').status, 'rejected')
        assert.equal(provider.credentialState('eu').retryAt, clock.now + 2 * BACKOFF_MS)
      })
    })

    await describe('unavailable credentials', async () => {
      await it('fails with QB_CREDENTIALS_UNAVAILABLE and reports the region unavailable when the secrets source has none', async (t) => {
        const { provider, secrets, endpoint } = harness(t, { holds })
        secrets.remove('eu')
        const error = await rejection(provider.get(EU, HOST))
        assert.equal(error.code, 'QB_CREDENTIALS_UNAVAILABLE')
        assert.equal(error.statusCode, 503)
        assert.equal(provider.credentialState('eu').status, 'unavailable')
        assert.match(provider.credentialState('eu').detail ?? '', /not in the fake store/)
        assert.equal(endpoint.calls.length, 0)
      })
    })
  })
}
