import type { RedisClient } from '../redis/redis-client.js'
import { luaScript } from '../redis/lua-script.js'
import { itemKey, type Job, type JobItem } from './job.js'
import type { JobStore } from './job-store.js'

/** Finished jobs are kept this long for reading back, then expire. */
const FINISHED_TTL_S = 30 * 24 * 3600
const MAX_LISTED = 1000

// KEYS[1] job, KEYS[2] jobs zset, KEYS[3] running set, KEYS[4..] tenant locks; ARGV[1] id, ARGV[2] json, ARGV[3] score.
const CREATE = luaScript(`
for i = 4, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder then return holder end
end
for i = 4, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return false`)

// Fenced writes: only the lease holder writes. KEYS[1] lease, KEYS[2] target; ARGV[1] owner, ARGV[2] mode, ARGV[3..] data.
const FENCED = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'set' then redis.call('SET', KEYS[2], ARGV[3])
elseif ARGV[2] == 'hset' then redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
else for i = 3, #ARGV, 2 do redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) end end
return 1`)

// KEYS[1] lease; ARGV[1] owner, ARGV[2] ttl ms.
const LEASE = luaScript(`
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

const RELEASE = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`)

// KEYS[1] lease, KEYS[2] job, KEYS[3] items, KEYS[4] running, KEYS[5] cancel, KEYS[6..] locks; ARGV[1] owner, ARGV[2] json, ARGV[3] id, ARGV[4] ttl s.
const FINISH = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('SREM', KEYS[4], ARGV[3])
redis.call('DEL', KEYS[5], KEYS[1])
for i = 6, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[3] then redis.call('DEL', KEYS[i]) end
end
return 1`)

/**
 * Jobs in Redis under `<prefix>{bot-users}:` (one Redis Cluster slot): the job record (JSON), its items
 * (a hash, one field per item), the list of jobs, the running set, one lease
 * per job and one lock per tenant. Item names and ids only: no token or secret.
 */
export function createRedisJobStore (options: { redis: RedisClient, keyPrefix: string }): JobStore {
  const { redis } = options
  // One hash tag for every key: the scripts touch a job, the lists and the tenant locks together, one slot in a cluster.
  const base = `${options.keyPrefix}{bot-users}:`
  const k = {
    job: (id: string) => `${base}job:${id}`,
    items: (id: string) => `${base}items:${id}`,
    lease: (id: string) => `${base}lease:${id}`,
    cancel: (id: string) => `${base}cancel:${id}`,
    lock: (key: string) => `${base}lock:${key}`,
    jobs: `${base}jobs`,
    running: `${base}running`
  }
  const parse = <T>(raw: string | null): T | undefined => raw === null ? undefined : JSON.parse(raw) as T

  return {
    kind: 'redis',
    async create (job, lockKeys) {
      const holder = await CREATE(redis, 3 + lockKeys.length, k.job(job.id), k.jobs, k.running, ...lockKeys.map(k.lock), job.id, JSON.stringify(job), Date.parse(job.createdAt))
      return typeof holder === 'string' ? { created: false, heldBy: holder } : { created: true }
    },
    async get (id) { return parse<Job>(await redis.get(k.job(id))) },
    async list (count) {
      const ids = await redis.zrevrange(k.jobs, 0, Math.min(count, MAX_LISTED) - 1)
      if (ids.length === 0) return []
      const raws = await redis.mget(...ids.map(k.job))
      const gone = ids.filter((_, index) => raws[index] === null)
      if (gone.length > 0) await redis.zrem(k.jobs, ...gone)
      return raws.flatMap((raw) => { const job = parse<Job>(raw); return job === undefined ? [] : [job] })
    },
    async running () { return await redis.smembers(k.running) },
    async items (id) { return Object.values(await redis.hgetall(k.items(id))).map((raw) => JSON.parse(raw) as JobItem) },
    async addItems (id, owner, items) {
      if (items.length === 0) return (await redis.get(k.lease(id))) === owner
      return (await FENCED(redis, 2, k.lease(id), k.items(id), owner, 'hsetnx', ...items.flatMap((item) => [itemKey(item), JSON.stringify(item)]))) === 1
    },
    async putItem (id, owner, item) { return (await FENCED(redis, 2, k.lease(id), k.items(id), owner, 'hset', itemKey(item), JSON.stringify(item))) === 1 },
    async putJob (job, owner) { return (await FENCED(redis, 2, k.lease(job.id), k.job(job.id), owner, 'set', JSON.stringify(job))) === 1 },
    async lease (id, owner, ttlMs) { return (await LEASE(redis, 1, k.lease(id), owner, Math.max(1, Math.ceil(ttlMs)))) === 1 },
    async release (id, owner) { await RELEASE(redis, 1, k.lease(id), owner) },
    async finish (job, owner, lockKeys) {
      await FINISH(redis, 5 + lockKeys.length, k.lease(job.id), k.job(job.id), k.items(job.id), k.running, k.cancel(job.id), ...lockKeys.map(k.lock), owner, JSON.stringify(job), job.id, FINISHED_TTL_S)
    },
    async requestCancel (id) { await redis.set(k.cancel(id), '1', 'EX', FINISHED_TTL_S) },
    async cancelRequested (id) { return (await redis.exists(k.cancel(id))) === 1 },
    async reachable () {
      // The client refuses commands until it is ready (no offline queue): wait for it rather than fail.
      if (redis.status === 'ready') return
      await new Promise<void>((resolve) => { redis.once('ready', () => { resolve() }) })
    },
    async close () {}
  }
}
