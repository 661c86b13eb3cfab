import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { BrokerError } from '../../../src/http/broker-error.js'
import { ClientRejectedError } from '../../../src/qlik/token-endpoint.js'
import { seal } from '../../../src/secrets/sealed.js'
import { createMemoryTokenStore } from '../../../src/tokens/memory-token-store.js'
import { createTokenProvider, type TokenProvider } from '../../../src/tokens/token-provider.js'
import type { MintLock, TokenStore } from '../../../src/tokens/token-store.js'
import { captureLogs } from '../../support/log-capture.js'
import { createFakeSecretsSource, type FakeSecretsSource } from '../fakes/fake-secrets-source.js'
import { createFakeTokenEndpoint, type FakeTokenEndpoint } from '../fakes/fake-token-endpoint.js'
import { regionConfig } from '../fakes/regions.js'

const EU = regionConfig('eu')
const HOST = 'acme.eu.qlikcloud.com'
const LIFETIME_MS = 60 * 60_000

interface LockRecord { key: string, end: 'held' | 'committed' | 'lost' | 'released', movedTo?: string | undefined }

/** A memory store that records every mint lock taken and how it ended. */
function recordingStore (now: () => number, options: { loseLease?: boolean } = {}): TokenStore & { locks: LockRecord[] } {
  const inner = createMemoryTokenStore(now)
  const locks: LockRecord[] = []
  return {
    ...inner,
    locks,
    async tryLock (key, leaseMs): Promise<MintLock | undefined> {
      const lock = await inner.tryLock(key, leaseMs)
      if (lock === undefined) return undefined
      const record: LockRecord = { key, end: 'held' }
      locks.push(record)
      return {
        async commit (token, ttlMs) {
          assert.equal(record.end, 'held', `lock on ${key} used after it ended`)
          if (options.loseLease === true) {
            record.end = 'lost'
            return false
          }
          record.end = 'committed'
          return await lock.commit(token, ttlMs)
        },
        async release (movedTo) {
          assert.equal(record.end, 'held', `lock on ${key} released after it ended`)
          record.end = 'released'
          record.movedTo = movedTo
          await lock.release(movedTo)
        }
      }
    }
  }
}

interface Harness {
  provider: TokenProvider
  store: ReturnType<typeof recordingStore>
  secrets: FakeSecretsSource
  endpoint: FakeTokenEndpoint
  now: () => number
}

function harness (t: TestContext, options: { loseLease?: boolean } = {}): Harness {
  const clock = { now: Date.UTC(2026, 0, 1) }
  const now = (): number => clock.now
  const store = recordingStore(now, options)
  const secrets = createFakeSecretsSource({ eu: { clientId: 'client-eu', clientSecret: 'secret-v1-aa11', version: 'v1' } })
  const endpoint = createFakeTokenEndpoint({ now, lifetimeMs: LIFETIME_MS })
  const provider = createTokenProvider({ secrets, store, endpoint, expiryMarginMs: 60_000, logger: captureLogs().logger, now })
  t.after(() => { provider.close() })
  return { provider, store, secrets, endpoint, now }
}

const KEY_V1 = `eu:${HOST}:client-eu:v1`

/**
 * Every way out of a mint leaves no lock held: a held lock keeps its lease
 * renewed and makes every other replica wait for it (issue 14).
 */
await describe('mint lock bookkeeping', async () => {
  await it('commits the lock when the mint lands under the key it locked', async (t) => {
    const { provider, store } = harness(t)
    await provider.get(EU, HOST)
    assert.deepEqual(store.locks, [{ key: KEY_V1, end: 'committed' }])
  })

  await it('releases the old key\'s lock, naming the new key, and commits the new key\'s lock when a newer secret version mints', async (t) => {
    const { provider, store, secrets, endpoint, now } = harness(t)
    endpoint.answerWith((call, index) => {
      if (call.version === 'v1') {
        secrets.put('eu', { clientId: 'client-eu-2', clientSecret: 'secret-v2-bb22', version: 'v2' })
        throw new ClientRejectedError(call.target.host, 401)
      }
      return { accessToken: seal(`token-${index + 1}`), issuedAt: now(), expiresAt: now() + LIFETIME_MS }
    })
    const lease = await provider.get(EU, HOST)
    const keyV2 = `eu:${HOST}:client-eu-2:v2`
    assert.equal(lease.cacheKey, keyV2)
    assert.deepEqual(store.locks, [{ key: KEY_V1, end: 'released', movedTo: keyV2 }, { key: keyV2, end: 'committed' }])
    assert.equal((await store.get(keyV2))?.accessToken.reveal(), 'token-2')
  })

  await it('releases the lock when the mint fails', async (t) => {
    const { provider, store, endpoint } = harness(t)
    endpoint.answerWith(() => { throw new BrokerError('QB_TOKEN_UNAVAILABLE', 'Qlik answered HTTP 500') })
    await assert.rejects(provider.get(EU, HOST), (error: unknown) => error instanceof BrokerError && error.code === 'QB_TOKEN_UNAVAILABLE')
    assert.deepEqual(store.locks, [{ key: KEY_V1, end: 'released', movedTo: undefined }])
  })

  await it('releases the lock when Qlik refuses the client and the store has no newer secret', async (t) => {
    const { provider, store, endpoint } = harness(t)
    endpoint.answerWith((call) => { throw new ClientRejectedError(call.target.host, 401) })
    await assert.rejects(provider.get(EU, 'register.eu.qlikcloud.com'), (error: unknown) => error instanceof BrokerError && error.code === 'QB_CREDENTIALS_REJECTED')
    assert.deepEqual(store.locks.map((lock) => lock.end), ['released'])
  })

  await it('ends the lock (no renewal) when its lease was lost before the commit', async (t) => {
    const { provider, store } = harness(t, { loseLease: true })
    const lease = await provider.get(EU, HOST)
    assert.equal(lease.accessToken.reveal(), 'token-1', 'the token is still served from the process')
    assert.deepEqual(store.locks, [{ key: KEY_V1, end: 'lost' }])
  })

  await it('releases the lock when the token landed while the lock was being taken', async (t) => {
    const { provider, store, endpoint, now } = harness(t)
    const original = store.tryLock.bind(store)
    store.tryLock = async (key, leaseMs) => {
      await store.set(key, { accessToken: seal('token-from-another-replica'), issuedAt: now(), expiresAt: now() + LIFETIME_MS }, LIFETIME_MS)
      return await original(key, leaseMs)
    }
    assert.equal((await provider.get(EU, HOST)).accessToken.reveal(), 'token-from-another-replica')
    assert.equal(endpoint.calls.length, 0)
    assert.deepEqual(store.locks, [{ key: KEY_V1, end: 'released', movedTo: undefined }])
  })
})
