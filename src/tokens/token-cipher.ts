import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

const ALGORITHM = 'aes-256-gcm'
const FORMAT = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

export interface CipherKey {
  id: string
  key: Buffer
}

export interface TokenCipher {
  /** The key id new values are written with. */
  readonly activeKeyId: string
  /** `context` (the cache key) is authenticated, so a value moved to another key fails to open. */
  encrypt (plaintext: string, context: string): string
  /** Undefined when the value cannot be authenticated (tampered, foreign or unknown key). */
  decrypt (sealed: string, context: string): string | undefined
}

/**
 * Parses `id:base64,id:base64` (the first key encrypts, all decrypt, so keys
 * rotate without losing cached values). Each key must be 32 bytes.
 */
export function parseCipherKeys (spec: string): CipherKey[] {
  const entries = spec.split(/[\s,]+/).map((entry) => entry.trim()).filter(Boolean)
  if (entries.length === 0) throw new Error('no cache encryption key given')
  const ids = new Set<string>()
  return entries.map((entry, index) => {
    const separator = entry.indexOf(':')
    const id = entry.slice(0, separator)
    const key = Buffer.from(entry.slice(separator + 1), 'base64')
    if (separator <= 0 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error(`cache encryption key #${index + 1} must look like "<id>:<base64 of 32 bytes>"`)
    if (key.length !== 32) throw new Error(`cache encryption key "${id}" is ${key.length} bytes; AES-256 needs 32`)
    if (ids.has(id)) throw new Error(`cache encryption key id "${id}" is given twice`)
    ids.add(id)
    return { id, key }
  })
}

export function createCipherKeySpec (id = `k${Date.now().toString(36)}`): string {
  return `${id}:${randomBytes(32).toString('base64')}`
}

export function createTokenCipher (keys: readonly CipherKey[]): TokenCipher {
  const active = keys[0]
  if (active === undefined) throw new Error('no cache encryption key given')
  const byId = new Map(keys.map((entry) => [entry.id, entry.key]))
  return {
    activeKeyId: active.id,
    encrypt (plaintext, context) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv(ALGORITHM, active.key, iv, { authTagLength: TAG_BYTES })
      cipher.setAAD(Buffer.from(`${active.id}|${context}`))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return [FORMAT, active.id, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
    },
    decrypt (sealed, context) {
      const [format, keyId, iv, body, tag] = sealed.split('.')
      if (format !== FORMAT || keyId === undefined || iv === undefined || body === undefined || tag === undefined) return undefined
      const key = byId.get(keyId)
      const ivBytes = Buffer.from(iv, 'base64url')
      const tagBytes = Buffer.from(tag, 'base64url')
      // A shortened tag would make forgery far easier: accept only full-length ones.
      if (key === undefined || ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) return undefined
      try {
        const decipher = createDecipheriv(ALGORITHM, key, ivBytes, { authTagLength: TAG_BYTES })
        decipher.setAAD(Buffer.from(`${keyId}|${context}`))
        decipher.setAuthTag(tagBytes)
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
      } catch {
        return undefined
      }
    }
  }
}
