import type { RedisClient } from '../redis/redis-client.js'
import { untilConnected } from '../redis/redis-ready.js'
import { positionOf, type RegisteredTenant, type TenantRegistry } from './tenant-registry.js'
import { luaScript } from '../redis/lua-script.js'
import { registryChangesChannel } from './redis-registry-changes.js'

/**
 * Applies a change only to a tenant that is registered, in one step, and
 * keeps the hostname index in line: a hostname the tenant no longer has is
 * dropped (if still its own), and one it gets is taken from any other
 * registered tenant that still lists it (a hostname has one tenant at a time).
 * KEYS: tenant hash, hostname index. ARGV: updatedAt, status, name, alias,
 * hostnames as JSON ('' = unchanged), prefix of tenant hash keys (same hash tag),
 * the registry's change channel and the region (published, for every replica's cache).
 */
const UPDATE = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[3]) end
local old = cjson.decode(redis.call('HGET', KEYS[1], 'hostnames') or '[]')
if type(old) ~= 'table' then old = {} end
local new = nil
if ARGV[5] ~= '' then
  new = cjson.decode(ARGV[5])
elseif ARGV[4] ~= '' then
  new = {}
  for i, hostname in ipairs(old) do new[i] = hostname end
  new[math.min(2, #new + 1)] = ARGV[4]
end
if new then
  local keep = {}
  for _, hostname in ipairs(new) do keep[hostname] = true end
  for _, hostname in ipairs(old) do
    if not keep[hostname] and redis.call('HGET', KEYS[2], hostname) == id then redis.call('HDEL', KEYS[2], hostname) end
  end
  for _, hostname in ipairs(new) do
    local owner = redis.call('HGET', KEYS[2], hostname)
    if owner and owner ~= id then
      local other = ARGV[6] .. owner
      local raw = redis.call('HGET', other, 'hostnames')
      if raw then
        local kept = {}
        for _, name in ipairs(cjson.decode(raw)) do if name ~= hostname then table.insert(kept, name) end end
        redis.call('HSET', other, 'hostnames', #kept == 0 and '[]' or cjson.encode(kept))
      end
    end
    redis.call('HSET', KEYS[2], hostname, id)
  end
  redis.call('HSET', KEYS[1], 'hostnames', #new == 0 and '[]' or cjson.encode(new))
end
redis.call('PUBLISH', ARGV[7], ARGV[8])
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
  const tenantKeyPrefix = (region: string): string => `${options.keyPrefix}registry:{${region}}:tenant:`
  const tenantKey = (region: string, id: string): string => `${tenantKeyPrefix(region)}${id}`
  const orderKey = (region: string): string => `${options.keyPrefix}registry:{${region}}:order`
  const hostsKey = (region: string): string => `${options.keyPrefix}registry:{${region}}:hostnames`
  const changes = registryChangesChannel(options.keyPrefix)

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
      // In the same transaction, so no replica's cache can miss the write (src/registry/cached-tenant-registry.ts).
      transaction.publish(changes, tenant.region)
      const results = await transaction.exec()
      const failed = results?.find(([error]) => error !== null)?.[0]
      if (failed !== undefined && failed !== null) throw failed
    },
    async update (region, id, change, at) {
      await untilConnected(redis)
      const result = await UPDATE(redis, 2, tenantKey(region, id), hostsKey(region), at, change.status ?? '', change.name ?? '', change.alias ?? '', change.hostnames === undefined ? '' : JSON.stringify(change.hostnames), tenantKeyPrefix(region), changes, region) as string[] | null
      if (result === null) return undefined
      const hash: Record<string, string> = {}
      for (let index = 0; index + 1 < result.length; index += 2) hash[result[index] ?? ''] = result[index + 1] ?? ''
      return fromHash(hash)
    },
    get,
    async findByHostname (region, hostname) {
      await untilConnected(redis)
      const id = await redis.hget(hostsKey(region), hostname)
      const tenant = id === null ? undefined : await get(region, id)
      return tenant?.hostnames.includes(hostname) === true ? tenant : undefined
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
