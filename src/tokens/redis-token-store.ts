import { randomBytes } from 'node:crypto'
import { duplicateClient, type RedisClient } from '../redis/redis-client.js'
import type { Logger } from '../observability/logger.js'
import { seal } from '../secrets/sealed.js'
import type { TokenCipher } from './token-cipher.js'
import { MOVED_TTL_MS, type CachedToken, type MintLock, type TokenStore } from './token-store.js'
import { luaScript } from '../redis/lua-script.js'

// Each script checks then acts in one step, so no replica can act on a state
// another replica changed in between.
const DELETE_IF_EQUALS = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

/** Store the token only while our fence still holds the lock; then free the lock and tell the waiters. */
const COMMIT_IF_FENCED = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
  return 1
end
return 0`)

/** Free the lock, leave a note of where the token moved (when it did), and tell the waiters. */
const RELEASE_IF_FENCED = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[4] ~= '' then
    redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
  end
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`)

const RENEW_IF_FENCED = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

const LOCK_POLL_MS = 100

export interface RedisTokenStoreOptions {
  redis: RedisClient
  cipher: TokenCipher
  keyPrefix: string
  logger: Logger
}

/**
 * Tokens in Redis, shared by every replica, each value AES-256-GCM encrypted
 * and bound to its key; a mint lock per key with a renewed lease and a fence,
 * and a pub/sub channel that wakes waiting replicas when a mint lands.
 * A value that fails to decrypt is a miss, logged, never an error and never
 * sent to Qlik. Keys use a hash tag so a key's token and lock share a Redis
 * Cluster slot.
 */
export function createRedisTokenStore (options: RedisTokenStoreOptions): TokenStore {
  const { redis, cipher, logger } = options
  const tokenKey = (key: string): string => `${options.keyPrefix}token:{${key}}`
  const lockKey = (key: string): string => `${options.keyPrefix}lock:{${key}}`
  const movedKey = (key: string): string => `${options.keyPrefix}moved:{${key}}`
  const channel = `${options.keyPrefix}minted`
  // Values are re-encrypted with a fresh IV each time, so compare-and-delete
  // needs the exact stored ciphertext: remember what we last read or wrote.
  const lastSeen = new Map<string, { accessToken: string, stored: string }>()
  const waiters = new Map<string, Set<() => void>>()
  let subscriber: RedisClient | undefined

  function seen (key: string, accessToken: string, stored: string): void {
    lastSeen.delete(key)
    lastSeen.set(key, { accessToken, stored })
    if (lastSeen.size > 10_000) {
      const oldest = lastSeen.keys().next().value
      if (oldest !== undefined) lastSeen.delete(oldest)
    }
  }

  function wake (key: string): void {
    const set = waiters.get(key)
    if (set === undefined) return
    waiters.delete(key)
    for (const resolve of set) resolve()
  }

  async function ensureSubscribed (): Promise<void> {
    if (subscriber !== undefined) return
    subscriber = duplicateClient(redis, { enableOfflineQueue: true })
    subscriber.on('error', () => {})
    subscriber.on('message', (_channel: string, key: string) => { wake(key) })
    await subscriber.subscribe(channel)
  }

  function encrypt (key: string, token: CachedToken): string {
    return cipher.encrypt(JSON.stringify({ t: token.accessToken.reveal(), i: token.issuedAt, e: token.expiresAt }), key)
  }

  return {
    kind: 'redis',
    async get (key) {
      const stored = await redis.get(tokenKey(key))
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
      seen(key, payload.t, stored)
      return { accessToken: seal(payload.t), issuedAt: payload.i, expiresAt: payload.e }
    },

    async set (key, token, ttlMs) {
      const stored = encrypt(key, token)
      await redis.set(tokenKey(key), stored, 'PX', Math.max(1, Math.floor(ttlMs)))
      seen(key, token.accessToken.reveal(), stored)
    },

    async deleteIfMatches (key, accessToken) {
      const last = lastSeen.get(key)
      if (last === undefined || last.accessToken !== accessToken) return
      lastSeen.delete(key)
      await DELETE_IF_EQUALS(redis, 1, tokenKey(key), last.stored)
    },

    async tryLock (key, leaseMs): Promise<MintLock | undefined> {
      const fence = randomBytes(16).toString('hex')
      const taken = await redis.set(lockKey(key), fence, 'PX', leaseMs, 'NX')
      if (taken !== 'OK') return undefined
      const renewal = setInterval(() => {
        RENEW_IF_FENCED(redis, 1, lockKey(key), fence, leaseMs).catch(() => {})
      }, Math.max(50, Math.floor(leaseMs / 3)))
      renewal.unref()
      return {
        async commit (token, ttlMs) {
          clearInterval(renewal)
          const stored = encrypt(key, token)
          const committed = await COMMIT_IF_FENCED(redis, 2, lockKey(key), tokenKey(key), fence, stored, Math.max(1, Math.floor(ttlMs)), channel, key)
          if (committed === 1) seen(key, token.accessToken.reveal(), stored)
          return committed === 1
        },
        async release (movedTo) {
          clearInterval(renewal)
          await RELEASE_IF_FENCED(redis, 2, lockKey(key), movedKey(key), fence, channel, key, movedTo ?? '', MOVED_TTL_MS)
        }
      }
    },

    async movedTo (key) {
      return await redis.get(movedKey(key)) ?? undefined
    },

    async waitForMint (key, timeoutMs) {
      await ensureSubscribed()
      await new Promise<void>((resolve) => {
        let set = waiters.get(key)
        if (set === undefined) waiters.set(key, set = new Set())
        const done = (): void => {
          clearTimeout(timeout)
          clearInterval(poll)
          waiters.get(key)?.delete(done)
          resolve()
        }
        set.add(done)
        const timeout = setTimeout(done, timeoutMs)
        // A holder that died never publishes: notice its lease running out.
        const poll = setInterval(() => {
          redis.exists(lockKey(key)).then((exists) => { if (exists === 0) done() }, done)
        }, LOCK_POLL_MS)
        timeout.unref()
        poll.unref()
      })
    },

    async close () {
      lastSeen.clear()
      for (const key of [...waiters.keys()]) wake(key)
      if (subscriber !== undefined) subscriber.disconnect()
    }
  }
}

function parsePayload (text: string): { t: string, i: number, e: number } | undefined {
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value === 'object' && value !== null && 't' in value && 'e' in value && typeof value.t === 'string' && typeof value.e === 'number') {
      return { t: value.t, i: 'i' in value && typeof value.i === 'number' ? value.i : value.e, e: value.e }
    }
  } catch {}
  return undefined
}
