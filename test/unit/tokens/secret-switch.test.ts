import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
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

/** The secrets store both replicas read ("Vault"), and one replica's view of it: `get` serves what it read last, `refresh` reads again. */
function vault (initial: { clientId: string, version: string }): { value: { clientId: string, version: string }, replica: () => SecretsSource & { refreshes: number } } {
  const shared = { value: initial }
  const read = (): RegionCredentials => ({ region: 'eu', clientId: shared.value.clientId, clientSecret: seal(`secret-${shared.value.version}`), version: shared.value.version })
  return {
    get value () { return shared.value },
    set value (next) { shared.value = next },
    replica () {
      let held: RegionCredentials | undefined
      const source = {
        kind: 'fake',
        refreshes: 0,
        async get () {
          held ??= read()
          return held
        },
        async refresh () {
          source.refreshes++
          held = read()
          return held
        },
        status: () => ({ kind: 'fake', reachable: true, loadedRegions: ['eu'] }),
        async close () {}
      }
      return source
    }
  }
}

await describe('a secret switch seen by two replicas on one Redis', async () => {
  let server: RedisServer
  before(async () => { server = await startRedisServer() })
  after(async () => { await server.close() })

  await it('lets the replica waiting on the old key follow the holder to the new key at once, with one mint for both', async (t) => {
    const keyPrefix = `qb-switch-${Date.now()}:`
    // One store per replica (each its own subscriber), one Redis.
    const store = (): TokenStore => {
      const created = createRedisTokenStore({ redis: server.client(), cipher: CIPHER, keyPrefix, logger: captureLogs().logger })
      t.after(async () => { await created.close() })
      return created
    }
    const secrets = vault({ clientId: 'client-1', version: 'v1' })
    // Qlik knows one client at a time; the holder's first request is held until the test lets it go.
    let qlikKnows = 'client-1'
    let letGo: () => void = () => {}
    const held = new Promise<void>((resolve) => { letGo = resolve })
    const endpoints: FakeTokenEndpoint[] = []
    const replicas: TokenProvider[] = []
    for (let i = 0; i < 2; i++) {
      const endpoint = createFakeTokenEndpoint({ now: Date.now })
      endpoint.answerWith(async (call, index) => {
        if (i === 0 && index === 0) await held
        if (call.clientId !== qlikKnows) throw new ClientRejectedError(call.target.host, 401)
        return { accessToken: seal(`token-${call.clientId}-${i}-${index}`), issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 }
      })
      endpoints.push(endpoint)
      const provider = createTokenProvider({ secrets: secrets.replica(), store: store(), endpoint, expiryMarginMs: 60_000, logger: captureLogs().logger, mintWaitMs: 30_000 })
      replicas.push(provider)
      t.after(() => { provider.close() })
    }
    const holder = replicas[0]?.get(EU, HOST)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    // Reads v1 too, finds the holder's lock and waits.
    const waiter = replicas[1]?.get(EU, HOST)
    await new Promise((resolve) => setTimeout(resolve, 200))
    // The client is recreated in Qlik and its new pair written to the store.
    qlikKnows = 'client-2'
    secrets.value = { clientId: 'client-2', version: 'v2' }
    letGo()
    const [a, b] = await Promise.all([holder, waiter])
    assert.ok(Date.now() - started < 2_000, `the waiter followed the note instead of waiting for the old lock (${Date.now() - started} ms)`)
    assert.equal(a?.accessToken.reveal(), b?.accessToken.reveal(), 'both replicas use the one new token')
    assert.equal(a?.cacheKey, `eu:${HOST}:client-2:v2`)
    const newMints = endpoints.flatMap((endpoint) => endpoint.calls).filter((call) => call.clientId === 'client-2')
    assert.equal(newMints.length, 1, 'one mint with the new client across both replicas')
    assert.ok(endpoints[1]?.calls.every((call) => call.clientId !== 'client-1'), 'the waiter never asked Qlik with the refused secret')
  })
})
