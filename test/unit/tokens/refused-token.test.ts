import assert from 'node:assert/strict'
import { after, before, describe, it, type TestContext } from 'node:test'
import { ClientRejectedError } from '../../../src/qlik/token-endpoint.js'
import { seal } from '../../../src/secrets/sealed.js'
import type { RegionCredentials, SecretsSource } from '../../../src/secrets/secrets-source.js'
import { createRedisTokenStore } from '../../../src/tokens/redis-token-store.js'
import { createCipherKeySpec, createTokenCipher, parseCipherKeys } from '../../../src/tokens/token-cipher.js'
import { createTokenProvider, type TokenProvider } from '../../../src/tokens/token-provider.js'
import type { TokenStore } from '../../../src/tokens/token-store.js'
import { captureLogs } from '../../support/log-capture.js'
import { startRedisServer, type RedisServer } from '../../support/redis-server.js'
import { createFakeTokenEndpoint, type FakeTokenEndpoint } from '../fakes/fake-token-endpoint.js'
import { regionConfig } from '../fakes/regions.js'

const EU = regionConfig('eu')
const HOST = 'acme.eu.qlikcloud.com'
const CIPHER = createTokenCipher(parseCipherKeys(createCipherKeySpec('k1')))

interface Setup {
  provider: TokenProvider
  store: TokenStore
  endpoint: FakeTokenEndpoint
  /** In My Qlik: the client is deleted and recreated (its tokens die), and its new pair is written to the secrets store. */
  recreateClient: () => void
}

/**
 * A provider on real Redis whose secrets source behaves like the file and
 * Vault sources: `get` serves what was read last, only `refresh` reads the
 * store again, so after the switch a request still starts with the old secret.
 */
function setup (t: TestContext, server: RedisServer, wrapStore: (store: TokenStore) => TokenStore = (store) => store): Setup {
  let written = { clientId: 'client-1', version: 'v1' }
  let qlikKnows = 'client-1'
  const read = (): RegionCredentials => ({ region: 'eu', clientId: written.clientId, clientSecret: seal(`secret-${written.version}`), version: written.version })
  let held: RegionCredentials | undefined
  const secrets: SecretsSource = {
    kind: 'fake',
    async get () {
      held ??= read()
      return held
    },
    async refresh () {
      held = read()
      return held
    },
    status: () => ({ kind: 'fake', reachable: true, loadedRegions: ['eu'] }),
    async close () {}
  }
  const endpoint = createFakeTokenEndpoint({ now: Date.now })
  endpoint.answerWith((call, index) => {
    if (call.clientId !== qlikKnows) throw new ClientRejectedError(call.target.host, 401)
    return { accessToken: seal(`token-${call.clientId}-${index}`), issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 }
  })
  const redisStore = createRedisTokenStore({ redis: server.client(), cipher: CIPHER, keyPrefix: `qb-refused-${Date.now()}-${Math.random()}:`, logger: captureLogs().logger })
  const store = wrapStore(redisStore)
  const provider = createTokenProvider({ secrets, store, endpoint, expiryMarginMs: 60_000, logger: captureLogs().logger })
  t.after(async () => {
    provider.close()
    await redisStore.close()
  })
  return {
    provider,
    store,
    endpoint,
    recreateClient () {
      qlikKnows = 'client-2'
      written = { clientId: 'client-2', version: 'v2' }
    }
  }
}

await describe('a token Qlik refused (401) is never served again', async () => {
  let server: RedisServer
  before(async () => { server = await startRedisServer() })
  after(async () => { await server.close() })

  await it('does not hand the retry the refused token that a concurrent request read back from Redis before the delete landed', async (t) => {
    const { provider, endpoint, recreateClient } = setup(t, server)
    const lease = await provider.get(EU, HOST)
    assert.equal(lease.accessToken.reveal(), 'token-client-1-0')
    recreateClient()
    // Redis does not hold the delete script yet (first 401 since Redis
    // started, or after a failover): the delete is EVALSHA, NOSCRIPT, then
    // EVAL, and a read sent in between still finds the old token.
    await server.client().script('FLUSH')

    // Request 1 got Qlik's 401 with the token; request 2 starts at that moment.
    const invalidating = provider.invalidate(lease)
    const concurrent = provider.get(EU, HOST)
    const [, other] = await Promise.all([invalidating, concurrent])
    assert.notEqual(other.accessToken.reveal(), lease.accessToken.reveal(), 'the concurrent request got the token Qlik had just refused')
    // Request 1's one retry.
    const retry = await provider.get(EU, HOST)
    assert.notEqual(retry.accessToken.reveal(), lease.accessToken.reveal(), 'the retry after a 401 got the token Qlik had just refused')
    assert.equal(retry.cacheKey, `eu:${HOST}:client-2:v2`)
    assert.equal(other.accessToken.reveal(), retry.accessToken.reveal(), 'both use the one new token')
    assert.equal(endpoint.calls.filter((call) => call.clientId === 'client-2').length, 1, 'one mint with the new client')
  })

  await it('does not serve the refused token from Redis when deleting it there failed', async (t) => {
    let failDeletes = true
    const { provider, store, recreateClient } = setup(t, server, (inner) => ({
      ...inner,
      async deleteIfMatches (key, accessToken) {
        if (failDeletes) throw new Error('connect ECONNRESET')
        await inner.deleteIfMatches(key, accessToken)
      }
    }))
    const lease = await provider.get(EU, HOST)
    recreateClient()
    await provider.invalidate(lease)
    assert.equal((await store.get(lease.cacheKey))?.accessToken.reveal(), lease.accessToken.reveal(), 'the refused token is still in Redis')
    failDeletes = false

    const retry = await provider.get(EU, HOST)
    assert.notEqual(retry.accessToken.reveal(), lease.accessToken.reveal(), 'the retry after a 401 got the refused token back from Redis')
    assert.equal(retry.cacheKey, `eu:${HOST}:client-2:v2`)
    assert.equal(await store.get(lease.cacheKey), undefined, 'the refused token found in Redis was deleted there, for the other replicas')
  })
})
