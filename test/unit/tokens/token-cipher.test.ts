import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { createCipherKeySpec, createTokenCipher, parseCipherKeys, type TokenCipher } from '../../../src/tokens/token-cipher.js'

const TOKEN = 'eyJhbGciOiJFUzM4NCJ9.access-token-payload-5d1c.signature'
const CONTEXT = 'eu:acme.eu.qlikcloud.com:client-1:v3'

function keySpec (id: string, bytes = 32): string {
  return `${id}:${randomBytes(bytes).toString('base64')}`
}

function cipherOf (...specs: string[]): TokenCipher {
  return createTokenCipher(parseCipherKeys(specs.join(',')))
}

/** Replaces one dot-separated part of a sealed value with `change(part)`. */
function alterPart (sealed: string, index: number, change: (part: string) => string): string {
  const parts = sealed.split('.')
  parts[index] = change(parts[index] ?? '')
  return parts.join('.')
}

/** Flips the first bit of a base64url field. */
function flipFirstBit (field: string): string {
  const bytes = Buffer.from(field, 'base64url')
  bytes[0] = (bytes[0] ?? 0) ^ 0x01
  return bytes.toString('base64url')
}

await describe('token cipher', async () => {
  await describe('encrypt and decrypt', async () => {
    await it('gives the plaintext back when decrypted with the same context', () => {
      const cipher = cipherOf(keySpec('k1'))
      const sealed = cipher.encrypt(TOKEN, CONTEXT)
      assert.equal(cipher.decrypt(sealed, CONTEXT), TOKEN)
    })

    await it('writes v1.<key id>.<iv>.<body>.<tag> without the plaintext when encrypting', () => {
      const cipher = cipherOf(keySpec('k1'))
      const sealed = cipher.encrypt(TOKEN, CONTEXT)
      assert.match(sealed, /^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/)
      assert.equal(sealed.includes(TOKEN), false)
      assert.equal(sealed.includes(Buffer.from(TOKEN).toString('base64url')), false)
    })

    await it('produces a different value each time when the same plaintext is encrypted twice', () => {
      const cipher = cipherOf(keySpec('k1'))
      assert.notEqual(cipher.encrypt(TOKEN, CONTEXT), cipher.encrypt(TOKEN, CONTEXT))
    })

    await it('round-trips an empty and a non-ASCII plaintext', () => {
      const cipher = cipherOf(keySpec('k1'))
      assert.equal(cipher.decrypt(cipher.encrypt('', CONTEXT), CONTEXT), '')
      assert.equal(cipher.decrypt(cipher.encrypt('tökén-✓', CONTEXT), CONTEXT), 'tökén-✓')
    })
  })

  await describe('authentication', async () => {
    const cipher = cipherOf(keySpec('k1'))
    const sealed = cipher.encrypt(TOKEN, CONTEXT)

    await it('fails to open a value when it is moved to another cache key', () => {
      assert.equal(cipher.decrypt(sealed, 'eu:other.eu.qlikcloud.com:client-1:v3'), undefined)
      assert.equal(cipher.decrypt(sealed, `${CONTEXT} `), undefined)
      assert.equal(cipher.decrypt(sealed, ''), undefined)
    })

    for (const [label, index] of [['iv', 2], ['ciphertext', 3], ['tag', 4]] as const) {
      await it(`returns undefined without throwing when one bit of the ${label} is flipped`, () => {
        assert.equal(cipher.decrypt(alterPart(sealed, index, flipFirstBit), CONTEXT), undefined)
      })
    }

    await it('returns undefined without throwing when the tag is removed or empty', () => {
      assert.equal(cipher.decrypt(sealed.split('.').slice(0, 4).join('.'), CONTEXT), undefined)
      assert.equal(cipher.decrypt(alterPart(sealed, 4, () => ''), CONTEXT), undefined)
    })

    await it('returns undefined when the authentication tag is truncated', () => {
      assert.equal(cipher.decrypt(alterPart(sealed, 4, (tag) => Buffer.from(tag, 'base64url').subarray(0, 4).toString('base64url')), CONTEXT), undefined)
    })

    await it('returns undefined without throwing when the iv is empty or of another length', () => {
      assert.equal(cipher.decrypt(alterPart(sealed, 2, () => ''), CONTEXT), undefined)
      assert.equal(cipher.decrypt(alterPart(sealed, 2, () => randomBytes(16).toString('base64url')), CONTEXT), undefined)
    })

    await it('returns undefined without throwing when the format marker or key id is changed', () => {
      assert.equal(cipher.decrypt(alterPart(sealed, 0, () => 'v2'), CONTEXT), undefined)
      assert.equal(cipher.decrypt(alterPart(sealed, 1, () => 'k2'), CONTEXT), undefined)
    })

    for (const value of ['', 'not-a-sealed-value', 'v1.k1', 'v1.k1.a.b', '....', TOKEN]) {
      await it(`returns undefined without throwing when the stored value is ${JSON.stringify(value.slice(0, 20))}`, () => {
        assert.equal(cipher.decrypt(value, CONTEXT), undefined)
      })
    }

    await it('returns undefined when the value was written with a key id this cipher does not have', () => {
      const foreign = cipherOf(keySpec('other'))
      assert.equal(cipher.decrypt(foreign.encrypt(TOKEN, CONTEXT), CONTEXT), undefined)
    })

    await it('returns undefined when the value was written by another key under the same id', () => {
      const impostor = cipherOf(keySpec('k1'))
      assert.equal(cipher.decrypt(impostor.encrypt(TOKEN, CONTEXT), CONTEXT), undefined)
    })

    await it('returns undefined when the key id in the value is swapped to another known key', () => {
      const k1 = keySpec('k1')
      const k2 = keySpec('k2')
      const writer = cipherOf(k1)
      const reader = cipherOf(k2, k1)
      assert.equal(reader.decrypt(alterPart(writer.encrypt(TOKEN, CONTEXT), 1, () => 'k2'), CONTEXT), undefined)
    })
  })

  await describe('key rotation', async () => {
    await it('opens values of the old key and writes with the new key id when the new key is listed first', () => {
      const oldKey = keySpec('k1')
      const newKey = keySpec('k2')
      const before = cipherOf(oldKey)
      const written = before.encrypt(TOKEN, CONTEXT)

      const rotated = cipherOf(newKey, oldKey)
      assert.equal(rotated.activeKeyId, 'k2')
      assert.equal(rotated.decrypt(written, CONTEXT), TOKEN)
      const rewritten = rotated.encrypt(TOKEN, CONTEXT)
      assert.equal(rewritten.split('.')[1], 'k2')
      assert.equal(before.decrypt(rewritten, CONTEXT), undefined, 'a replica still on the old keys cannot read it')
      assert.equal(cipherOf(newKey).decrypt(rewritten, CONTEXT), TOKEN)
    })

    await it('stops opening old values when the old key is dropped', () => {
      const oldKey = keySpec('k1')
      const written = cipherOf(oldKey).encrypt(TOKEN, CONTEXT)
      assert.equal(cipherOf(keySpec('k2')).decrypt(written, CONTEXT), undefined)
    })
  })

  await describe('createTokenCipher', async () => {
    await it('refuses to build when no key is given', () => {
      assert.throws(() => createTokenCipher([]), /no cache encryption key given/)
    })
  })
})

await describe('parseCipherKeys', async () => {
  await it('reads id:base64 keys in order when separated by commas, spaces or newlines', () => {
    const a = randomBytes(32)
    const b = randomBytes(32)
    const c = randomBytes(32)
    const keys = parseCipherKeys(`k2:${a.toString('base64')}, k1:${b.toString('base64')}\nold_key-0:${c.toString('base64')}\n`)
    assert.deepEqual(keys.map((key) => key.id), ['k2', 'k1', 'old_key-0'])
    assert.ok(keys[0]?.key.equals(a))
    assert.ok(keys[2]?.key.equals(c))
  })

  await it('reads a key made by createCipherKeySpec when given its output', () => {
    const [key] = parseCipherKeys(createCipherKeySpec('fresh'))
    assert.equal(key?.id, 'fresh')
    assert.equal(key?.key.length, 32)
    assert.match(createCipherKeySpec(), /^k[0-9a-z]+:/)
  })

  for (const spec of ['', '  ', ',,', '\n']) {
    await it(`refuses ${JSON.stringify(spec)} when no key is given`, () => {
      assert.throws(() => parseCipherKeys(spec), { message: 'no cache encryption key given' })
    })
  }

  for (const bytes of [16, 31, 33, 64]) {
    await it(`refuses a key of ${bytes} bytes naming its id and length when it is not 32 bytes`, () => {
      assert.throws(() => parseCipherKeys(keySpec('short', bytes)), { message: `cache encryption key "short" is ${bytes} bytes; AES-256 needs 32` })
    })
  }

  for (const [label, entry] of [['no id', `:${randomBytes(32).toString('base64')}`], ['no separator', randomBytes(32).toString('base64')], ['a dot in the id', keySpec('k.1')], ['an id over 32 characters', keySpec('k'.repeat(33))]] as const) {
    await it(`refuses a key with ${label} naming its position when the id is bad`, () => {
      assert.throws(() => parseCipherKeys(`${keySpec('good')},${entry}`), { message: 'cache encryption key #2 must look like "<id>:<base64 of 32 bytes>"' })
    })
  }

  await it('refuses an id given twice when two keys share it', () => {
    assert.throws(() => parseCipherKeys(`${keySpec('k1')},${keySpec('k1')}`), { message: 'cache encryption key id "k1" is given twice' })
  })

  await it('never puts key material in its error message when a key is refused', () => {
    const material = randomBytes(20).toString('base64')
    assert.throws(() => parseCipherKeys(`k1:${material}`), (error: Error) => !error.message.includes(material))
  })
})
