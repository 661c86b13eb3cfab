import type { Redis } from 'ioredis'
import type { Logger } from '../observability/logger.js'
import { seal } from '../secrets/sealed.js'
import type { TokenCipher } from './token-cipher.js'
import type { TokenStore } from './token-store.js'

// Compare-and-delete in one step, so a 401 on an old token never evicts the
// newer token another replica stored meanwhile.
const DELETE_IF_EQUALS = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`

export interface RedisTokenStoreOptions {
  redis: Redis
  cipher: TokenCipher
  keyPrefix: string
  logger: Logger
}

/**
 * Tokens in Redis, shared by every replica, each value AES-256-GCM encrypted
 * and bound to its key. Redis expires entries itself (PX). A value that
 * fails to decrypt is a miss, logged, never an error and never sent to Qlik.
 */
export function createRedisTokenStore (options: RedisTokenStoreOptions): TokenStore {
  const { redis, cipher, logger } = options
  const redisKey = (key: string): string => `${options.keyPrefix}token:${key}`
  // Values are re-encrypted with a fresh IV each time, so compare-and-delete
  // needs the exact stored ciphertext: remember what we last read or wrote.
  const lastSeen = new Map<string, { accessToken: string, stored: string }>()

  return {
    kind: 'redis',
    async get (key) {
      const stored = await redis.get(redisKey(key))
      if (stored === null) return undefined
      const opened = cipher.decrypt(stored, key)
      if (opened === undefined) {
        logger.warn({ cacheKey: key }, 'cached token value failed authentication (tampered, or written with an unknown key); treated as a miss')
        return undefined
      }
      const payload = parsePayload(opened)
      if (payload === undefined) {
        logger.warn({ cacheKey: key }, 'cached token value has an unknown shape; treated as a miss')
        return undefined
      }
      lastSeen.set(key, { accessToken: payload.t, stored })
      return { accessToken: seal(payload.t), expiresAt: payload.e }
    },
    async set (key, token, ttlMs) {
      const stored = cipher.encrypt(JSON.stringify({ t: token.accessToken.reveal(), e: token.expiresAt }), key)
      await redis.set(redisKey(key), stored, 'PX', Math.max(1, Math.floor(ttlMs)))
      lastSeen.set(key, { accessToken: token.accessToken.reveal(), stored })
    },
    async deleteIfMatches (key, accessToken) {
      const seen = lastSeen.get(key)
      if (seen === undefined || seen.accessToken !== accessToken) return
      lastSeen.delete(key)
      await redis.eval(DELETE_IF_EQUALS, 1, redisKey(key), seen.stored)
    },
    async close () {
      lastSeen.clear()
    }
  }
}

function parsePayload (text: string): { t: string, e: number } | undefined {
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value === 'object' && value !== null && 't' in value && 'e' in value && typeof value.t === 'string' && typeof value.e === 'number') {
      return { t: value.t, e: value.e }
    }
  } catch {}
  return undefined
}
