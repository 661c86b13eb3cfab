import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** Prefix of broker API keys, so a leaked key is recognisable (secret scanners, logs). */
export const API_KEY_PREFIX = 'qbk_'

const API_KEY_PATTERN = /^qbk_[A-Za-z0-9_-]{43}$/

export interface NewApiKey {
  /** Shown once, given to the calling service. */
  key: string
  /** What goes in the broker's configuration (`apiKeyHashes`). */
  hash: string
}

export function createApiKey (): NewApiKey {
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`
  return { key, hash: hashApiKey(key) }
}

/**
 * SHA-256 is enough here: keys are 256 random bits, so there is nothing for a
 * slow password hash to protect, and verification stays on the hot path.
 */
export function hashApiKey (key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`
}

export function looksLikeApiKey (credential: string): boolean {
  return API_KEY_PATTERN.test(credential)
}

/**
 * Finds the owner of a presented key. The map lookup is on the digest of the
 * presented key (which tells an attacker nothing about stored keys); the final
 * equality check is constant-time all the same.
 */
export function createApiKeyIndex<T> (owners: Iterable<{ hash: string, owner: T }>): (presented: string) => T | undefined {
  const byHash = new Map<string, { digest: Buffer, owner: T }>()
  for (const { hash, owner } of owners) byHash.set(hash, { digest: Buffer.from(hash.slice('sha256:'.length), 'hex'), owner })
  return (presented) => {
    if (!looksLikeApiKey(presented)) return undefined
    const hash = hashApiKey(presented)
    const entry = byHash.get(hash)
    if (entry === undefined) return undefined
    return timingSafeEqual(entry.digest, Buffer.from(hash.slice('sha256:'.length), 'hex')) ? entry.owner : undefined
  }
}
