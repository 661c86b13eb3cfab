import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import { seal } from '../../../src/secrets/sealed.js'
import { createRedisTokenStore } from '../../../src/tokens/redis-token-store.js'
import { createCipherKeySpec, createTokenCipher, parseCipherKeys, type TokenCipher } from '../../../src/tokens/token-cipher.js'
import type { CachedToken, TokenStore } from '../../../src/tokens/token-store.js'
import { captureLogs, type CapturedLogs } from '../../support/log-capture.js'
import { assertNoLeak, redisDump } from '../../support/leaks.js'
import { startRedisServer, type RedisServer } from '../../support/redis-server.js'

const PREFIX = 'qb-test:'
const KEYS = parseCipherKeys(createCipherKeySpec('k1'))

let server: RedisServer
let redis: Redis
let keyCounter = 0

before(async () => {
  server = await startRedisServer()
  redis = server.client()
})
after(async () => { await server.close() })

/** A cache key no other test uses, shaped like the provider's. */
function freshKey (): string {
  return `eu:acme.eu.qlikcloud.com:client-1:v${++keyCounter}`
}

function storeWith (options: { logs?: CapturedLogs, cipher?: TokenCipher, keyPrefix?: string } = {}): TokenStore {
  return createRedisTokenStore({
    redis: server.client(),
    cipher: options.cipher ?? createTokenCipher(KEYS),
    keyPrefix: options.keyPrefix ?? PREFIX,
    logger: (options.logs ?? captureLogs()).logger
  })
}

function token (value: string, expiresAt = Date.now() + 3_600_000): CachedToken {
  return { accessToken: seal(value), issuedAt: expiresAt - 3_600_000, expiresAt }
}

/** Where the store keeps a key's token: a Redis Cluster hash tag around the cache key. */
function tokenKey (key: string, prefix = PREFIX): string {
  return `${prefix}token:{${key}}`
}

async function rawValue (key: string): Promise<string> {
  const value = await redis.get(tokenKey(key))
  assert.ok(value !== null, `a value is stored under ${key}`)
  return value
}

await describe('redis token store', async () => {
  await describe('set and get', async () => {
    await it('gives the token and its expiry back when it was set', async () => {
      const store = storeWith()
      const key = freshKey()
      const expiresAt = Date.now() + 3_600_000
      await store.set(key, token('access-token-round-trip-1a2b', expiresAt), 60_000)
      const cached = await store.get(key)
      assert.equal(cached?.accessToken.reveal(), 'access-token-round-trip-1a2b')
      assert.equal(cached?.expiresAt, expiresAt)
      assert.equal(cached?.issuedAt, expiresAt - 3_600_000)
      assert.equal(store.kind, 'redis')
    })

    await it('gives the token to another replica when that replica shares Redis and the keys', async () => {
      const key = freshKey()
      await storeWith().set(key, token('access-token-shared-3c4d'), 60_000)
      assert.equal((await storeWith().get(key))?.accessToken.reveal(), 'access-token-shared-3c4d')
    })

    await it('misses when nothing was stored under the key', async () => {
      assert.equal(await storeWith().get(freshKey()), undefined)
    })

    await it('keeps stores apart when their key prefixes differ', async () => {
      const key = freshKey()
      await storeWith({ keyPrefix: 'tenant-a:' }).set(key, token('access-token-prefix-a-9f8e'), 60_000)
      assert.equal(await storeWith({ keyPrefix: 'tenant-b:' }).get(key), undefined)
      assert.equal(await redis.exists(tokenKey(key, 'tenant-a:')), 1)
    })

    await it('stores no token in clear when tokens are written', async () => {
      const store = storeWith()
      const secrets = ['access-token-never-in-redis-5e6f', 'access-token-never-in-redis-7a8b']
      const keys = [freshKey(), freshKey()]
      for (const [index, value] of secrets.entries()) await store.set(keys[index] ?? '', token(value), 60_000)
      const dump = await redisDump(redis)
      for (const key of keys) assert.ok(dump.includes(`${tokenKey(key)}=v1.k1.`), 'the dump holds the written values')
      assertNoLeak({ redis: dump }, secrets)
    })

    await it('sets a PX expiry of the given TTL when a token is stored', async () => {
      const key = freshKey()
      await storeWith().set(key, token('access-token-ttl-0c1d'), 90_000)
      const pttl = await redis.pttl(tokenKey(key))
      assert.ok(pttl > 85_000 && pttl <= 90_000, `PTTL ${pttl} is about 90 s`)
    })

    await it('expires the entry at once when the TTL is zero or negative', async () => {
      const key = freshKey()
      const store = storeWith()
      await store.set(key, token('access-token-ttl-zero-2e3f'), -5_000)
      await new Promise((resolve) => setTimeout(resolve, 20))
      assert.equal(await redis.exists(tokenKey(key)), 0)
      assert.equal(await store.get(key), undefined)
    })
  })

  await describe('values that fail to open', async () => {
    await it('misses and logs a warning without throwing when the raw value was tampered with', async () => {
      const logs = captureLogs()
      const store = storeWith({ logs })
      const key = freshKey()
      await store.set(key, token('access-token-tampered-4a5b'), 60_000)
      const parts = (await rawValue(key)).split('.')
      const body = Buffer.from(parts[3] ?? '', 'base64url')
      body[0] = (body[0] ?? 0) ^ 0xff
      parts[3] = body.toString('base64url')
      await redis.set(tokenKey(key), parts.join('.'))

      assert.equal(await store.get(key), undefined)
      const warning = logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.level === 'warn')
      assert.equal(warning?.cacheKey, key)
      assert.match(String(warning?.msg), /failed authentication .* treated as a miss/)
      assertNoLeak({ logs: logs.text() }, ['access-token-tampered-4a5b'])
    })

    await it('misses and logs a warning when the raw value is not a sealed value at all', async () => {
      const logs = captureLogs()
      const key = freshKey()
      await redis.set(tokenKey(key), 'plain-text-token-6c7d')
      assert.equal(await storeWith({ logs }).get(key), undefined)
      assert.match(logs.text(), /"level":"warn".*failed authentication/)
    })

    await it('misses when a value written under another key is copied over this key', async () => {
      const logs = captureLogs()
      const store = storeWith({ logs })
      const source = freshKey()
      const target = freshKey()
      await store.set(source, token('access-token-other-host-8e9f'), 60_000)
      await store.set(target, token('access-token-this-host-0a1b'), 60_000)
      await redis.set(tokenKey(target), await rawValue(source))
      assert.equal(await store.get(target), undefined)
      assert.equal((await store.get(source))?.accessToken.reveal(), 'access-token-other-host-8e9f')
      assert.match(logs.text(), new RegExp(`"cacheKey":"${target}"`))
    })

    await it('misses when the value was written with a key the reader no longer has', async () => {
      const key = freshKey()
      await storeWith().set(key, token('access-token-old-key-2c3d'), 60_000)
      const rotatedAway = createTokenCipher(parseCipherKeys(createCipherKeySpec('k9')))
      assert.equal(await storeWith({ cipher: rotatedAway }).get(key), undefined)
    })

    await it('misses and logs a warning when the value opens but has an unknown shape', async () => {
      const logs = captureLogs()
      const key = freshKey()
      const cipher = createTokenCipher(KEYS)
      await redis.set(tokenKey(key), cipher.encrypt(JSON.stringify({ token: 'access-token-shape-4e5f', e: 1 }), key))
      assert.equal(await storeWith({ logs, cipher }).get(key), undefined)
      assert.match(logs.text(), /unknown shape; treated as a miss/)
    })
  })

  await describe('deleteIfMatches', async () => {
    await it('deletes the entry when it still holds the given token', async () => {
      const store = storeWith()
      const key = freshKey()
      await store.set(key, token('access-token-delete-me-6a7b'), 60_000)
      await store.deleteIfMatches(key, 'access-token-delete-me-6a7b')
      assert.equal(await redis.exists(tokenKey(key)), 0)
    })

    await it('keeps the entry when asked to delete a different token', async () => {
      const store = storeWith()
      const key = freshKey()
      await store.set(key, token('access-token-keep-me-8c9d'), 60_000)
      await store.deleteIfMatches(key, 'access-token-some-other-0e1f')
      assert.equal((await store.get(key))?.accessToken.reveal(), 'access-token-keep-me-8c9d')
    })

    await it('keeps the newer token when another replica replaced it before the old one is invalidated', async () => {
      const first = storeWith()
      const second = storeWith()
      const key = freshKey()
      await first.set(key, token('access-token-old-2a3b'), 60_000)
      await second.set(key, token('access-token-new-4c5d'), 60_000)
      await first.deleteIfMatches(key, 'access-token-old-2a3b')
      assert.equal((await first.get(key))?.accessToken.reveal(), 'access-token-new-4c5d')
      assert.equal(await redis.exists(tokenKey(key)), 1)
    })

    await it('deletes the entry from another replica when that replica read the token it invalidates', async () => {
      const writer = storeWith()
      const reader = storeWith()
      const key = freshKey()
      await writer.set(key, token('access-token-read-then-401-6e7f'), 60_000)
      assert.equal((await reader.get(key))?.accessToken.reveal(), 'access-token-read-then-401-6e7f')
      await reader.deleteIfMatches(key, 'access-token-read-then-401-6e7f')
      assert.equal(await redis.exists(tokenKey(key)), 0)
    })

    await it('leaves the entry and does not throw when this store never read or wrote the key', async () => {
      const key = freshKey()
      await storeWith().set(key, token('access-token-unseen-8a9b'), 60_000)
      await storeWith().deleteIfMatches(key, 'access-token-unseen-8a9b')
      await storeWith().deleteIfMatches(freshKey(), 'access-token-nothing-0c1d')
      assert.equal(await redis.exists(tokenKey(key)), 1)
    })
  })
  await describe('mint lock', async () => {
    await it('leaves a note naming the new key and wakes the waiters when the holder releases with movedTo', async () => {
      const holder = storeWith()
      const waiter = storeWith()
      const key = freshKey()
      const next = freshKey()
      const lock = await holder.tryLock(key, 5_000)
      assert.ok(lock !== undefined)
      assert.equal(await waiter.tryLock(key, 5_000), undefined, 'the lock is held')
      const started = Date.now()
      const woken = waiter.waitForMint(key, 10_000)
      await new Promise((resolve) => setTimeout(resolve, 50))
      await lock.release(next)
      await woken
      assert.ok(Date.now() - started < 2_000, 'the waiter woke on the release, not on its timeout')
      assert.equal(await waiter.movedTo(key), next)
      assert.ok(await redis.pttl(`${PREFIX}moved:{${key}}`) > 0, 'the note expires by itself')
      assert.equal(await redis.exists(`${PREFIX}lock:{${key}}`), 0)
      await waiter.close()
    })

    await it('leaves no note when the holder releases without movedTo, and none for a lock it no longer holds', async () => {
      const store = storeWith()
      const key = freshKey()
      const lock = await store.tryLock(key, 5_000)
      assert.ok(lock !== undefined)
      await lock.release()
      assert.equal(await store.movedTo(key), undefined)
      const stale = await store.tryLock(key, 5_000)
      assert.ok(stale !== undefined)
      await redis.set(`${PREFIX}lock:{${key}}`, 'another-holder-fence')
      await stale.release(freshKey())
      assert.equal(await store.movedTo(key), undefined, 'a holder whose fence was lost writes nothing')
      assert.equal(await redis.get(`${PREFIX}lock:{${key}}`), 'another-holder-fence')
    })
  })
})
