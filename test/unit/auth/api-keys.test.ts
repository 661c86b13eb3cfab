import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { API_KEY_PREFIX, createApiKey, createApiKeyIndex, hashApiKey, looksLikeApiKey } from '../../../src/auth/api-keys.js'
import { API_KEY_HASH_PATTERN } from '../../../src/config/schema.js'

await describe('api-keys', async () => {
  await describe('createApiKey', async () => {
    await it('makes a qbk_ key of 43 base64url characters with its sha256 hash when called', () => {
      const { key, hash } = createApiKey()
      assert.equal(API_KEY_PREFIX, 'qbk_')
      assert.match(key, /^qbk_[A-Za-z0-9_-]{43}$/)
      assert.equal(hash, hashApiKey(key))
      assert.match(hash, API_KEY_HASH_PATTERN)
      assert.ok(looksLikeApiKey(key))
    })

    await it('never repeats a key or a hash when called many times', () => {
      const keys = Array.from({ length: 2000 }, () => createApiKey())
      assert.equal(new Set(keys.map((entry) => entry.key)).size, keys.length)
      assert.equal(new Set(keys.map((entry) => entry.hash)).size, keys.length)
    })
  })

  await describe('hashApiKey', async () => {
    await it('gives "sha256:" and the lowercase hex SHA-256 digest when hashing a known value', () => {
      // FIPS 180-2 test vector for "abc".
      assert.equal(hashApiKey('abc'), 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    })

    await it('gives different hashes when keys differ by one character', () => {
      const { key } = createApiKey()
      const other = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')
      assert.notEqual(hashApiKey(key), hashApiKey(other))
    })
  })

  await describe('looksLikeApiKey', async () => {
    const valid = `qbk_${'A'.repeat(43)}`
    for (const [label, value] of [
      ['empty', ''],
      ['no prefix', 'A'.repeat(47)],
      ['upper-case prefix', `QBK_${'A'.repeat(43)}`],
      ['one character short', `qbk_${'A'.repeat(42)}`],
      ['one character long', `qbk_${'A'.repeat(44)}`],
      ['standard base64 characters', `qbk_${'A'.repeat(41)}+/`],
      ['base64 padding', `qbk_${'A'.repeat(42)}=`],
      ['surrounding whitespace', ` ${valid} `],
      ['a trailing newline', `${valid}\n`],
      ['a JWT', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln']
    ] as const) {
      await it(`refuses a credential when it has ${label}`, () => {
        assert.equal(looksLikeApiKey(value), false)
      })
    }

    await it('accepts a credential when it has the prefix and 43 base64url characters', () => {
      assert.equal(looksLikeApiKey(valid), true)
      assert.equal(looksLikeApiKey(`qbk_${'-_'.repeat(21)}z`), true)
    })
  })

  await describe('createApiKeyIndex', async () => {
    await it('finds the owner of a key when its hash is registered', () => {
      const first = createApiKey()
      const second = createApiKey()
      const find = createApiKeyIndex([{ hash: first.hash, owner: 'first' }, { hash: second.hash, owner: 'second' }])
      assert.equal(find(first.key), 'first')
      assert.equal(find(second.key), 'second')
    })

    await it('finds no owner when a well-formed key is not registered', () => {
      const find = createApiKeyIndex([{ hash: createApiKey().hash, owner: 'someone' }])
      assert.equal(find(createApiKey().key), undefined)
    })

    await it('finds no owner when the presented value is the hash instead of the key', () => {
      const { hash } = createApiKey()
      assert.equal(createApiKeyIndex([{ hash, owner: 'someone' }])(hash), undefined)
    })

    await it('finds no owner for a malformed credential even when its hash is registered', () => {
      const malformed = 'password123'
      assert.equal(createApiKeyIndex([{ hash: hashApiKey(malformed), owner: 'someone' }])(malformed), undefined)
    })
  })
})
