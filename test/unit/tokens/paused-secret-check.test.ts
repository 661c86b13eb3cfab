import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BrokerError } from '../../../src/http/broker-error.js'
import { ClientRejectedError } from '../../../src/qlik/token-endpoint.js'
import { seal } from '../../../src/secrets/sealed.js'
import type { RegionCredentials, SecretsSource } from '../../../src/secrets/secrets-source.js'
import { createMemoryTokenStore } from '../../../src/tokens/memory-token-store.js'
import { createTokenProvider } from '../../../src/tokens/token-provider.js'
import { captureLogs } from '../../support/log-capture.js'
import { createFakeTokenEndpoint } from '../fakes/fake-token-endpoint.js'
import { regionConfig } from '../fakes/regions.js'

const EU = regionConfig('eu')
const HOST_A = 'acme.eu.qlikcloud.com'
const HOST_B = 'globex.eu.qlikcloud.com'

await describe('a region paused after its client was rejected', async () => {
  await it('lets every request that comes while the new secret is being read use it, not only the one that reads it', async (t) => {
    const clock = { now: Date.UTC(2026, 0, 1) }
    const now = (): number => clock.now
    // Like the file and Vault sources: `get` serves what was read last, `refresh` reads again (here held until let go).
    let written = { clientId: 'client-1', version: 'v1' }
    let held: RegionCredentials | undefined
    const reads: { gate: Promise<void> } = { gate: Promise.resolve() }
    const read = (): RegionCredentials => ({ region: 'eu', clientId: written.clientId, clientSecret: seal(`secret-${written.version}`), version: written.version })
    const secrets: SecretsSource = {
      kind: 'fake',
      async get () {
        held ??= read()
        return held
      },
      async refresh () {
        await reads.gate
        held = read()
        return held
      },
      status: () => ({ kind: 'fake', reachable: true, loadedRegions: ['eu'] }),
      async close () {}
    }
    let qlikKnows = 'client-1'
    const endpoint = createFakeTokenEndpoint({ now })
    endpoint.answerWith((call, index) => {
      if (call.clientId !== qlikKnows) throw new ClientRejectedError(call.target.host, 401)
      return { accessToken: seal(`token-${call.clientId}-${index}`), issuedAt: now(), expiresAt: now() + 3_600_000 }
    })
    const provider = createTokenProvider({ secrets, store: createMemoryTokenStore(now), endpoint, expiryMarginMs: 60_000, logger: captureLogs().logger, now, rejectedBackoffMs: 30_000 })
    t.after(() => { provider.close() })

    const leaseA = await provider.get(EU, HOST_A)
    const leaseB = await provider.get(EU, HOST_B)
    // The client is recreated in My Qlik; its new pair is not in the secrets store yet.
    qlikKnows = 'client-2'
    await provider.invalidate(leaseA)
    await provider.invalidate(leaseB)
    const rejected = await provider.get(EU, HOST_A).then(() => undefined, (error: unknown) => error)
    assert.ok(rejected instanceof BrokerError && rejected.code === 'QB_CREDENTIALS_REJECTED', 'no working secret exists yet: the region is rejected')

    // The new pair lands in the store; two requests for two hosts come while it is being read.
    clock.now += 2_000
    written = { clientId: 'client-2', version: 'v2' }
    let letGo: () => void = () => {}
    reads.gate = new Promise((resolve) => { letGo = resolve })
    const settled = Promise.allSettled([provider.get(EU, HOST_A), provider.get(EU, HOST_B)])
    await new Promise((resolve) => setImmediate(resolve))
    letGo()
    const [a, b] = await settled
    assert.equal(a.status, 'fulfilled', `the request that read the new secret: ${a.status === 'rejected' ? String(a.reason) : ''}`)
    assert.equal(b.status, 'fulfilled', `the request that came while it was read: ${b.status === 'rejected' ? String(b.reason) : ''}`)
    assert.equal(b.value.cacheKey, `eu:${HOST_B}:client-2:v2`)
    assert.equal(provider.credentialState('eu').status, 'ok')
  })
})
