import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createApiKey, MAX_REMEMBERED_KEYS } from '../../../src/auth/api-keys.js'
import { createApiKeyVerifier } from '../../../src/auth/api-key-verifier.js'
import { combineVerifiers, type Caller, type CallerVerifier } from '../../../src/auth/caller.js'
import { CallerSchema, type CallerConfig } from '../../../src/config/schema.js'
import { createCallerDirectory, createReloadingVerifier, withCurrentGrants } from '../../../src/registry/caller-directory.js'

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

await describe('createApiKeyVerifier: verified keys remembered', async () => {
  await it('answers a remembered key with the same caller, and still refuses a key one character away from it', async () => {
    const verifier = createApiKeyVerifier(callers)
    const first = await verifier.verify(betaKey.key)
    assert.equal(await verifier.verify(betaKey.key), first)
    const key = betaKey.key
    assert.equal(await verifier.verify(key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x')), undefined)
    assert.equal(await verifier.verify(key.slice(0, -1)), undefined)
  })

  await it('still verifies every key, and refuses others, when more keys verify than it remembers', async () => {
    const keys = Array.from({ length: MAX_REMEMBERED_KEYS + 8 }, () => createApiKey())
    const verifier = createApiKeyVerifier([CallerSchema.parse({ name: 'many', apiKeyHashes: keys.map((entry) => entry.hash), grants: [] })])
    for (let round = 0; round < 2; round++) {
      for (const { key } of keys) assert.equal((await verifier.verify(key))?.name, 'many')
      assert.equal(await verifier.verify(createApiKey().key), undefined)
    }
  })

  await it('refuses a key as soon as a reload removes its hash, and accepts the rotated one, though the old key was remembered', async () => {
    const old = createApiKey()
    const rotated = createApiKey()
    const directory = createCallerDirectory([CallerSchema.parse({ name: 'svc', apiKeyHashes: [old.hash], grants: [] })])
    const verifier = createReloadingVerifier(directory, createApiKeyVerifier)
    assert.equal((await verifier.verify(old.key))?.name, 'svc')
    assert.equal((await verifier.verify(old.key))?.name, 'svc')
    directory.replace([CallerSchema.parse({ name: 'svc', apiKeyHashes: [rotated.hash], grants: [] })])
    assert.equal(await verifier.verify(old.key), undefined)
    assert.equal((await verifier.verify(rotated.key))?.name, 'svc')
    directory.replace([CallerSchema.parse({ name: 'other', apiKeyHashes: [createApiKey().hash], grants: [] })])
    assert.equal(await verifier.verify(rotated.key), undefined, 'a caller removed by a reload is no one')
  })
})

await describe('the synchronous path (known): answers as verify does, through every layer the broker stacks', async () => {
  const grant = (action: string) => [{ regions: '*' as const, actions: [action] }]
  const jwtCaller: Caller = { name: 'svc', via: 'jwt', grants: [] }
  const jwt: CallerVerifier = { verify: async (credential) => credential === 'a.jwt.token' ? jwtCaller : undefined }

  await it('knows a valid API key at once (remembered or not), with the grants in force; a removed or rotated key, a removed caller and a JWT are left to verify, which refuses or answers them', async () => {
    const old = createApiKey()
    const rotated = createApiKey()
    const directory = createCallerDirectory([CallerSchema.parse({ name: 'svc', apiKeyHashes: [old.hash], grants: grant('tenants:read') })])
    const verifier = withCurrentGrants(directory, combineVerifiers([createReloadingVerifier(directory, createApiKeyVerifier), jwt]))
    const both = async (credential: string): Promise<[Caller | undefined, Caller | undefined]> => [verifier.known?.(credential), await verifier.verify(credential)]

    const [first, verified] = await both(old.key)
    assert.equal(first?.name, 'svc')
    assert.equal(first, verified, 'the same caller either way')
    assert.equal(verifier.known?.(old.key), first, 'remembered')

    directory.replace([CallerSchema.parse({ name: 'svc', apiKeyHashes: [old.hash], grants: grant('tenants:create') })])
    assert.equal(verifier.known?.(old.key)?.grants[0]?.actions[0], 'tenants:create', 'grants changed by a reload apply at once')

    directory.replace([CallerSchema.parse({ name: 'svc', apiKeyHashes: [rotated.hash], grants: [] })])
    assert.deepEqual(await both(old.key), [undefined, undefined], 'a rotated-away key is refused on the next request, though it was remembered')
    assert.equal(verifier.known?.(rotated.key)?.name, 'svc')

    assert.deepEqual(await both('a.jwt.token'), [undefined, { ...jwtCaller, grants: [] }], 'a JWT is not known at once: verify answers it')

    directory.replace([CallerSchema.parse({ name: 'other', apiKeyHashes: [createApiKey().hash], grants: [] })])
    assert.deepEqual(await both(rotated.key), [undefined, undefined], 'a caller removed by a reload is no one')
    assert.deepEqual(await both('a.jwt.token'), [undefined, undefined])
  })

  await it('is only the first verifier\'s: a later one that would recognise the credential is asked through verify', async () => {
    const key = createApiKey()
    const apiKeys = createApiKeyVerifier([CallerSchema.parse({ name: 'svc', apiKeyHashes: [key.hash], grants: [] })])
    assert.equal(combineVerifiers([jwt, apiKeys]).known, undefined, 'the first (JWT) cannot answer at once, so nothing can')
    assert.equal(combineVerifiers([apiKeys, jwt]).known?.(key.key)?.name, 'svc')
  })
})
