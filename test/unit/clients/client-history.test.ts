import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createClientHistory, MAX_PREVIOUS } from '../../../src/clients/client-history.js'
import { recordClientUse } from '../../../src/clients/recording-secrets-source.js'
import { seal } from '../../../src/secrets/sealed.js'
import type { RegionCredentials, SecretsSource } from '../../../src/secrets/secrets-source.js'
import { captureLogs } from '../../support/log-capture.js'

const T0 = Date.parse('2026-12-04T10:00:00.000Z')
const iso = (ms: number): string => new Date(ms).toISOString()

function setup (): { history: ReturnType<typeof createClientHistory>, clock: { at: number }, changes: string[], logs: ReturnType<typeof captureLogs> } {
  const clock = { at: T0 }
  const changes: string[] = []
  const logs = captureLogs()
  const history = createClientHistory({ keyPrefix: 'qb:', logger: logs.logger, now: () => clock.at, onChange: (region) => { changes.push(region) } })
  return { history, clock, changes, logs }
}

await describe('client history without Redis', async () => {
  await it('records the old client id with its last use when a region moves to a new one, logs and reports the change once', async () => {
    const { history, clock, changes, logs } = setup()
    history.used('eu', 'client-a')
    clock.at = T0 + 60_000
    history.used('eu', 'client-a')
    history.used('us', 'client-us')
    assert.deepEqual(await history.forRegion('eu'), { region: 'eu', currentClientId: 'client-a', previous: [] })
    assert.deepEqual(changes, [])

    clock.at = T0 + 120_000
    history.used('eu', 'client-b')
    clock.at = T0 + 180_000
    history.used('eu', 'client-b')
    assert.deepEqual(await history.forRegion('eu'), {
      region: 'eu',
      currentClientId: 'client-b',
      previous: [{ clientId: 'client-a', firstUsedAt: iso(T0), lastUsedAt: iso(T0 + 60_000), replacedAt: iso(T0 + 120_000) }]
    })
    assert.deepEqual(changes, ['eu'])
    const changed = logs.lines.filter((line) => line.includes('regional client id changed'))
    assert.equal(changed.length, 1)
    assert.match(changed[0] ?? '', /"region":"eu","clientId":"client-b","previousClientId":"client-a"/)
    assert.deepEqual(await history.forRegion('us'), { region: 'us', currentClientId: 'client-us', previous: [] })
    assert.deepEqual(await history.forRegion('jp'), { region: 'jp', currentClientId: undefined, previous: [] })
  })

  await it('lists previous clients newest use first, including a rollback to an earlier id, and at most MAX_PREVIOUS', async () => {
    const { history, clock, changes } = setup()
    for (let index = 0; index <= MAX_PREVIOUS + 2; index++) {
      clock.at = T0 + index * 1000
      history.used('eu', `client-${index}`)
    }
    const listed = await history.forRegion('eu')
    assert.equal(listed.currentClientId, `client-${MAX_PREVIOUS + 2}`)
    assert.equal(listed.previous.length, MAX_PREVIOUS)
    assert.equal(listed.previous[0]?.clientId, `client-${MAX_PREVIOUS + 1}`)
    assert.equal(changes.length, MAX_PREVIOUS + 2)

    // An operator restores the previous Vault version: the old id is current again, the newer one is history.
    clock.at = T0 + 100_000
    history.used('eu', `client-${MAX_PREVIOUS + 1}`)
    const restored = await history.forRegion('eu')
    assert.equal(restored.currentClientId, `client-${MAX_PREVIOUS + 1}`)
    assert.equal(restored.previous[0]?.clientId, `client-${MAX_PREVIOUS + 2}`)
    assert.equal(restored.previous.some((entry) => entry.clientId === restored.currentClientId), false)
  })
})

await describe('recordClientUse', async () => {
  await it('records every credential handed out by get() and refresh(), and keeps the rest of the source', async () => {
    const { history, clock } = setup()
    let clientId = 'client-a'
    const credentials = (): RegionCredentials => ({ region: 'eu', clientId, clientSecret: seal('never-in-history-secret'), version: clientId })
    const source: SecretsSource & { currentVersion: () => Promise<string> } = {
      kind: 'fake',
      get: async () => credentials(),
      refresh: async () => credentials(),
      status: () => ({ kind: 'fake', reachable: true, loadedRegions: ['eu'] }),
      close: async () => {},
      currentVersion: async () => clientId
    }
    const recorded = recordClientUse(source, history)
    assert.equal(recorded.held?.('eu'), undefined, 'a source without held() holds nothing the wrapper could hand out')
    assert.equal((await recorded.get('eu')).clientId, 'client-a')
    clientId = 'client-b'
    clock.at = T0 + 5000
    assert.equal((await recorded.refresh('eu')).clientId, 'client-b')
    assert.equal(await recorded.currentVersion(), 'client-b')
    assert.equal(recorded.kind, 'fake')
    const listed = await history.forRegion('eu')
    assert.equal(listed.currentClientId, 'client-b')
    assert.deepEqual(listed.previous.map((entry) => entry.clientId), ['client-a'])
    assert.equal(JSON.stringify(listed).includes('never-in-history-secret'), false)
  })

  await it('records the credentials handed out by held() as a use too', async () => {
    const { history } = setup()
    const held: RegionCredentials = { region: 'eu', clientId: 'client-h', clientSecret: seal('never-in-history-secret'), version: 'h1' }
    const source: SecretsSource = {
      kind: 'fake',
      get: async () => held,
      held: () => held,
      refresh: async () => held,
      status: () => ({ kind: 'fake', reachable: true, loadedRegions: ['eu'] }),
      close: async () => {}
    }
    assert.equal(recordClientUse(source, history).held?.('eu'), held)
    assert.equal((await history.forRegion('eu')).currentClientId, 'client-h')
  })
})
