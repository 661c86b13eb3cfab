import type { RegisteredTenant, TenantRegistry } from './tenant-registry.js'

/** Tells the cache when it may be trusted: every replica's registry writes reach it, or not. */
export interface RegistryChangeFeed {
  /** True while every registry write (by any replica) is announced to `onChange`; the cache answers only then. */
  live (): boolean
  /** `listener` runs on every announced write, and whenever the feed stops or starts being live. */
  onChange (listener: () => void): void
  close (): Promise<void>
}

export interface CachedTenantRegistryOptions {
  feed: RegistryChangeFeed
  /** An answer is reused at most this long, even if no change was announced (a replica of an older version announces none). */
  ttlMs: number
  /** Most answers kept; past it the oldest is dropped. */
  maxEntries: number
  now?: () => number
}

interface Entry {
  tenant: RegisteredTenant | undefined
  at: number
}

/**
 * The registry's two lookups on the request path (`get` by id, for policy and
 * routing; `findByHostname`, for tenant-level calls) answered from this
 * process while nothing changed, instead of one Redis read per request.
 *
 * Every registry write, by any replica, is announced on the change feed
 * (Redis pub/sub, published by the write itself); an announcement drops every
 * answer kept. While the feed is not live (not yet subscribed, connection
 * lost) nothing is kept or answered from here, and an answer read while a
 * change was announced is not kept (it may predate the change). So an answer
 * is at most as old as the announcement's trip from Redis, the same window in
 * which a read that went to Redis could have missed the write anyway. `ttlMs`
 * bounds what a missed announcement could leave behind.
 *
 * Answers are copies: a caller that changes one changes nothing here.
 */
export function createCachedTenantRegistry (inner: TenantRegistry, options: CachedTenantRegistryOptions): TenantRegistry {
  const { feed, ttlMs, maxEntries } = options
  const now = options.now ?? Date.now
  const entries = new Map<string, Entry>()
  /** Bumped by every announced change: an answer read across a bump is not kept. */
  let generation = 0
  const invalidate = (): void => {
    generation++
    entries.clear()
  }
  feed.onChange(invalidate)

  /** A copy of the live answer held for `key` (a tenant, or undefined: none registered), or MISS. */
  function held (key: string): RegisteredTenant | undefined | typeof MISS {
    if (!feed.live()) return MISS
    const entry = entries.get(key)
    return entry !== undefined && now() - entry.at < ttlMs ? copy(entry.tenant) : MISS
  }

  async function load (key: string, read: () => Promise<RegisteredTenant | undefined>): Promise<RegisteredTenant | undefined> {
    const live = feed.live()
    const readAt = generation
    const at = now()
    const tenant = await read()
    if (live && feed.live() && readAt === generation) {
      entries.delete(key)
      entries.set(key, { tenant: copy(tenant), at })
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value ?? key)
    }
    return tenant
  }

  return {
    kind: inner.kind,
    async record (tenant) {
      try {
        await inner.record(tenant)
      } finally {
        invalidate()
      }
    },
    async update (region, id, change, at) {
      try {
        return await inner.update(region, id, change, at)
      } finally {
        invalidate()
      }
    },
    // A hit is answered without a closure or an await of its own: every tenant-level request reads here.
    async get (region, id) {
      const key = `id ${region} ${id}`
      const hit = held(key)
      return hit !== MISS ? hit : await load(key, async () => await inner.get(region, id))
    },
    async findByHostname (region, hostname) {
      const key = `host ${region} ${hostname}`
      const hit = held(key)
      return hit !== MISS ? hit : await load(key, async () => await inner.findByHostname(region, hostname))
    },
    async page (region, after, count) {
      return await inner.page(region, after, count)
    },
    async close () {
      await feed.close()
      await inner.close()
    }
  }
}

/** What `held` answers when the cache cannot: the registry must be read. */
const MISS = Symbol('miss')

function copy (tenant: RegisteredTenant | undefined): RegisteredTenant | undefined {
  return tenant === undefined ? undefined : { ...tenant, hostnames: [...tenant.hostnames] }
}
