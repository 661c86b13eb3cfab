import type { RedisClient } from '../redis/redis-client.js'
import { untilConnected } from '../redis/redis-ready.js'
import { positionOf, type RegisteredTenant, type TenantRegistry } from './tenant-registry.js'
import { luaScript } from '../redis/lua-script.js'

/**
 * Applies a change only to a tenant that is registered, in one step, and
 * keeps the hostname index in line when the alias changes.
 * KEYS: tenant hash, hostname index. ARGV: updatedAt, status, name, alias ('' = unchanged).
 */
const UPDATE = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[3]) end
if ARGV[4] ~= '' then
  local hostnames = cjson.decode(redis.call('HGET', KEYS[1], 'hostnames'))
  local old = hostnames[2]
  if old and old ~= ARGV[4] then redis.call('HDEL', KEYS[2], old) end
  hostnames[2] = ARGV[4]
  redis.call('HSET', KEYS[1], 'hostnames', cjson.encode(hostnames))
  redis.call('HSET', KEYS[2], ARGV[4], redis.call('HGET', KEYS[1], 'id'))
end
return redis.call('HGETALL', KEYS[1])`)

export interface RedisTenantRegistryOptions {
  redis: RedisClient
  keyPrefix: string
}

/**
 * The registry in Redis, shared by every replica: a hash per tenant, a
 * sorted set per region whose members are positions (creation time, id;
 * equal scores, so ZRANGE BYLEX gives an exact resume-after cursor), and a
 * hostname → id hash per region. All keys of a region share a hash tag.
 */
export function createRedisTenantRegistry (options: RedisTenantRegistryOptions): TenantRegistry {
  const { redis } = options
  const tenantKey = (region: string, id: string): string => `${options.keyPrefix}registry:{${region}}:tenant:${id}`
  const orderKey = (region: string): string => `${options.keyPrefix}registry:{${region}}:order`
  const hostsKey = (region: string): string => `${options.keyPrefix}registry:{${region}}:hostnames`

  async function get (region: string, id: string): Promise<RegisteredTenant | undefined> {
    await untilConnected(redis)
    return fromHash(await redis.hgetall(tenantKey(region, id)))
  }

  return {
    kind: 'redis',
    async record (tenant) {
      await untilConnected(redis)
      const fields: Record<string, string> = {
        id: tenant.id,
        name: tenant.name,
        hostnames: JSON.stringify(tenant.hostnames),
        region: tenant.region,
        status: tenant.status,
        createdBy: tenant.createdBy,
        createdAt: tenant.createdAt,
        updatedAt: tenant.updatedAt
      }
      if (tenant.datacenter !== undefined) fields.datacenter = tenant.datacenter
      const transaction = redis.multi()
        .hset(tenantKey(tenant.region, tenant.id), fields)
        .zadd(orderKey(tenant.region), 0, positionOf(tenant))
      if (tenant.hostnames.length > 0) transaction.hset(hostsKey(tenant.region), Object.fromEntries(tenant.hostnames.map((hostname) => [hostname, tenant.id])))
      const results = await transaction.exec()
      const failed = results?.find(([error]) => error !== null)?.[0]
      if (failed !== undefined && failed !== null) throw failed
    },
    async update (region, id, change, at) {
      await untilConnected(redis)
      const result = await UPDATE(redis, 2, tenantKey(region, id), hostsKey(region), at, change.status ?? '', change.name ?? '', change.alias ?? '') as string[] | null
      if (result === null) return undefined
      const hash: Record<string, string> = {}
      for (let index = 0; index + 1 < result.length; index += 2) hash[result[index] ?? ''] = result[index + 1] ?? ''
      return fromHash(hash)
    },
    get,
    async findByHostname (region, hostname) {
      await untilConnected(redis)
      const id = await redis.hget(hostsKey(region), hostname)
      return id === null ? undefined : await get(region, id)
    },
    async page (region, after, count) {
      await untilConnected(redis)
      const positions = await redis.zrangebylex(orderKey(region), after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, count + 1)
      const more = positions.length > count
      const wanted = positions.slice(0, count)
      const pipeline = redis.pipeline()
      for (const position of wanted) pipeline.hgetall(tenantKey(region, position.slice(16)))
      const results = wanted.length === 0 ? [] : (await pipeline.exec()) ?? []
      const tenants: RegisteredTenant[] = []
      const kept: string[] = []
      results.forEach(([error, hash], index) => {
        if (error !== null) throw error
        const tenant = fromHash(hash as Record<string, string>)
        if (tenant === undefined) return
        tenants.push(tenant)
        kept.push(wanted[index] ?? '')
      })
      return { tenants, positions: kept, last: wanted.at(-1), more }
    },
    async close () {}
  }
}

function fromHash (hash: Record<string, string>): RegisteredTenant | undefined {
  if (hash.id === undefined || hash.region === undefined) return undefined
  let hostnames: string[] = []
  try {
    const parsed: unknown = JSON.parse(hash.hostnames ?? '[]')
    if (Array.isArray(parsed)) hostnames = parsed.filter((value): value is string => typeof value === 'string')
  } catch {}
  return {
    id: hash.id,
    name: hash.name ?? '',
    hostnames,
    region: hash.region,
    ...(hash.datacenter === undefined ? {} : { datacenter: hash.datacenter }),
    status: hash.status ?? 'unknown',
    createdBy: hash.createdBy ?? '',
    createdAt: hash.createdAt ?? '',
    updatedAt: hash.updatedAt ?? hash.createdAt ?? ''
  }
}
