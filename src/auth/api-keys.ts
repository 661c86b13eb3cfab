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

/** Verified keys an index remembers at most, whatever the number of configured hashes. */
export const MAX_REMEMBERED_KEYS = 1024

/**
 * Finds the owner of a presented key. The map lookup is on the digest of the
 * presented key (which tells an attacker nothing about stored keys); the final
 * equality check is constant-time all the same.
 *
 * A key that verified is remembered, keyed on the presented key itself (the
 * hash's input), so the next request with it costs a Map lookup instead of a
 * SHA-256 (≈ 3 µs per request, docs/benchmarks.md). Only keys that matched a
 * configured hash are remembered, so there are never more entries than hashes
 * (and at most MAX_REMEMBERED_KEYS); a key that does not verify is hashed
 * every time. An index is built from one caller set: a reload that removes or
 * rotates a hash builds a new index (src/registry/caller-directory.ts) with
 * nothing remembered, so a revoked key is refused on the next request.
 */
export function createApiKeyIndex<T> (owners: Iterable<{ hash: string, owner: T }>): (presented: string) => T | undefined {
  const byHash = new Map<string, { digest: Buffer, owner: T }>()
  for (const { hash, owner } of owners) byHash.set(hash, { digest: Buffer.from(hash.slice('sha256:'.length), 'hex'), owner })
  const capacity = Math.min(byHash.size, MAX_REMEMBERED_KEYS)
  const verified = new Map<string, { owner: T }>()
  return (presented) => {
    const remembered = verified.get(presented)
    if (remembered !== undefined) return remembered.owner
    if (!looksLikeApiKey(presented)) return undefined
    const hash = hashApiKey(presented)
    const entry = byHash.get(hash)
    if (entry === undefined) return undefined
    if (!timingSafeEqual(entry.digest, Buffer.from(hash.slice('sha256:'.length), 'hex'))) return undefined
    if (verified.size >= capacity) verified.delete(verified.keys().next().value as string)
    verified.set(presented, { owner: entry.owner })
    return entry.owner
  }
}
