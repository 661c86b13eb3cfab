import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createApiKey } from '../../../src/auth/api-keys.js'
import { createApiKeyVerifier } from '../../../src/auth/api-key-verifier.js'
import { combineVerifiers, type Caller, type CallerVerifier } from '../../../src/auth/caller.js'
import { CallerSchema, type CallerConfig } from '../../../src/config/schema.js'

const alphaKeys = [createApiKey(), createApiKey()]
const betaKey = createApiKey()
const callers: CallerConfig[] = [
  CallerSchema.parse({ name: 'alpha', apiKeyHashes: alphaKeys.map((entry) => entry.hash), grants: [{ regions: ['eu'], actions: ['tenants:read'] }] }),
  CallerSchema.parse({ name: 'beta', apiKeyHashes: [betaKey.hash], grants: [{ regions: '*', tenantApi: ['GET /api/v1/users'] }] }),
  CallerSchema.parse({ name: 'keyless', grants: [{ regions: '*', actions: ['tenants:create'] }] })
]

await describe('createApiKeyVerifier', async () => {
  const verifier = createApiKeyVerifier(callers)

  await it('returns the caller with its grants when the key is one of its keys', async () => {
    for (const { key } of alphaKeys) {
      const caller = await verifier.verify(key)
      assert.deepEqual(caller, { name: 'alpha', via: 'api-key', grants: callers[0]?.grants, quota: undefined })
    }
    assert.equal((await verifier.verify(betaKey.key))?.name, 'beta')
  })

  await it('returns a caller that cannot be changed when the key is valid', async () => {
    const caller = await verifier.verify(betaKey.key)
    assert.ok(caller !== undefined && Object.isFrozen(caller))
  })

  await it('returns undefined when the key is well formed but unknown', async () => {
    assert.equal(await verifier.verify(createApiKey().key), undefined)
  })

  await it('returns undefined when the key differs from a known key in its last character', async () => {
    const key = betaKey.key
    assert.equal(await verifier.verify(key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x')), undefined)
  })

  for (const [label, credential] of [['empty', ''], ['a hash', betaKey.hash], ['a key with a space', `${betaKey.key} `], ['a truncated key', betaKey.key.slice(0, -1)], ['a Bearer prefix', `Bearer ${betaKey.key}`]] as const) {
    await it(`returns undefined when the credential is ${label}`, async () => {
      assert.equal(await verifier.verify(credential), undefined)
    })
  }

  await it('recognises no key when no caller has one', async () => {
    assert.equal(await createApiKeyVerifier([]).verify(alphaKeys[0]?.key ?? ''), undefined)
  })
})

await describe('combineVerifiers', async () => {
  const fixed = (name: string, credential: string, log: string[]): CallerVerifier => ({
    async verify (presented) {
      log.push(name)
      return presented === credential ? { name, via: 'jwt', grants: [] } satisfies Caller : undefined
    }
  })

  await it('answers with the first verifier that recognises the credential when several are combined', async () => {
    const log: string[] = []
    const combined = combineVerifiers([fixed('one', 'a', log), fixed('two', 'b', log), fixed('three', 'b', log)])
    assert.equal((await combined.verify('b'))?.name, 'two')
    assert.deepEqual(log, ['one', 'two'], 'later verifiers are not asked')
  })

  await it('returns undefined after asking every verifier when none recognises the credential', async () => {
    const log: string[] = []
    assert.equal(await combineVerifiers([fixed('one', 'a', log), fixed('two', 'b', log)]).verify('c'), undefined)
    assert.deepEqual(log, ['one', 'two'])
  })
})
