import { MOVED_TTL_MS, type CachedToken, type TokenStore } from './token-store.js'

const MAX_MOVES = 10_000

/**
 * Process-local store for a single replica without Redis (the demo, tests).
 * In-process single-flight already serialises mints, so its lock always succeeds.
 */
export function createMemoryTokenStore (now: () => number = Date.now): TokenStore {
  const entries = new Map<string, { token: CachedToken, evictAt: number }>()
  const moves = new Map<string, { to: string, evictAt: number }>()
  const set = (key: string, token: CachedToken, ttlMs: number): void => { entries.set(key, { token, evictAt: now() + ttlMs }) }
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
      set(key, token, ttlMs)
    },
    async deleteIfMatches (key, accessToken) {
      if (entries.get(key)?.token.accessToken.reveal() === accessToken) entries.delete(key)
    },
    async tryLock (key) {
      return {
        async commit (token, ttlMs) {
          set(key, token, ttlMs)
          return true
        },
        async release (movedTo) {
          if (movedTo === undefined) return
          moves.delete(key)
          moves.set(key, { to: movedTo, evictAt: now() + MOVED_TTL_MS })
          if (moves.size > MAX_MOVES) {
            const oldest = moves.keys().next().value
            if (oldest !== undefined) moves.delete(oldest)
          }
        }
      }
    },
    async movedTo (key) {
      const move = moves.get(key)
      if (move === undefined || move.evictAt <= now()) return undefined
      return move.to
    },
    async waitForMint () {},
    async close () {
      entries.clear()
      moves.clear()
    }
  }
}
