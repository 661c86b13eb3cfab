import type { CachedToken, TokenStore } from './token-store.js'

/** Process-local store for a single replica without Redis (the demo, tests). */
export function createMemoryTokenStore (now: () => number = Date.now): TokenStore {
  const entries = new Map<string, { token: CachedToken, evictAt: number }>()
  return {
    kind: 'memory',
    async get (key) {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      if (entry.evictAt <= now()) {
        entries.delete(key)
        return undefined
      }
      return entry.token
    },
    async set (key, token, ttlMs) {
      entries.set(key, { token, evictAt: now() + ttlMs })
    },
    async deleteIfMatches (key, accessToken) {
      if (entries.get(key)?.token.accessToken.reveal() === accessToken) entries.delete(key)
    },
    async close () {
      entries.clear()
    }
  }
}
