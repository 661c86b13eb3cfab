import type { RedisClient } from '../redis/redis-client.js'

/** A client id a region used before its current one. Ids and times only: never a secret. */
export interface PreviousClient {
  clientId: string
  /** When a broker replica first used it (ISO 8601). */
  firstUsedAt: string
  /** When a request or a token refresh last needed it (ISO 8601), to within `usedWriteEveryMs` across replicas. */
  lastUsedAt: string
  /** When the client that followed it was first used (ISO 8601); undefined when not known. */
  replacedAt: string | undefined
}

export interface RegionClientHistory {
  region: string
  /** The client id this replica uses now; without one of its own, the one most recently first used. */
  currentClientId: string | undefined
  /** Newest use first, at most MAX_PREVIOUS. */
  previous: PreviousClient[]
}

export interface ClientHistory {
  /** A request or a token refresh needed this region's credentials, with this client id. */
  used (region: string, clientId: string): void
  /**
   * The region's client history, for `GET /regions/{region}`. Never throws:
   * without Redis, or while Redis is away, it answers from this replica's
   * memory.
   */
  forRegion (region: string): Promise<RegionClientHistory>
}

/** The part of a pino logger this module uses. */
export interface ClientHistoryLogger {
  info (obj: object, msg: string): void
  debug (obj: object, msg: string): void
}

export interface ClientHistoryOptions {
  /** Shared by the replicas; absent: this replica's memory only. */
  redis?: RedisClient | undefined
  keyPrefix: string
  logger: ClientHistoryLogger
  now?: () => number
  /** This replica saw a region's client id change (for a metric). */
  onChange?: (region: string) => void
  /**
   * A client id's last use is written to Redis at most this often per replica:
   * `used()` runs on every request and must not cost a Redis call each time.
   */
  usedWriteEveryMs?: number
}

interface Use {
  firstUsed: number
  lastUsed: number
  /** When this replica last wrote `lastUsed` to Redis. */
  written: number | undefined
}

export const MAX_PREVIOUS = 20
const DEFAULT_WRITE_EVERY_MS = 60_000

// Keeps the earliest first use and the latest last use whichever replica writes.
// KEYS[1] first-used hash, KEYS[2] last-used hash; ARGV[1] client id, ARGV[2] first use, ARGV[3] last use (ms).
const RECORD_USE = `
local first = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if first == nil or first > tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]))
if last == nil or last < tonumber(ARGV[3]) then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
return 1
`

/**
 * Remembers which OAuth client ids each region has used and when, so an
 * operator can see that a rotation to a new client (a new Vault version or
 * secret file with another `client_id`) took, and when the old client was
 * last needed before deleting it in My Qlik. Only ids and times are kept.
 * Per replica in memory; with Redis, shared by the replicas and kept across
 * restarts (`<prefix>clients:{<region>}:first-used` and `:last-used` hashes, one slot in a cluster,
 * client id → epoch ms; one field per client id the region ever used).
 */
export function createClientHistory (options: ClientHistoryOptions): ClientHistory {
  const now = options.now ?? Date.now
  const writeEveryMs = options.usedWriteEveryMs ?? DEFAULT_WRITE_EVERY_MS
  const uses = new Map<string, Map<string, Use>>()
  const current = new Map<string, string>()

  const keys = (region: string): [string, string] => [`${options.keyPrefix}clients:{${region}}:first-used`, `${options.keyPrefix}clients:{${region}}:last-used`]

  function write (region: string, clientId: string, use: Use, at: number): void {
    const redis = options.redis
    if (redis === undefined) return
    use.written = at
    redis.eval(RECORD_USE, 2, ...keys(region), clientId, String(use.firstUsed), String(use.lastUsed)).catch((error: unknown) => {
      // Kept in memory; the next use writes again once the interval has passed.
      use.written = undefined
      options.logger.debug({ region, err: (error as Error).message }, 'cannot record a client id use in redis; kept in this replica')
    })
  }

  return {
    used (region, clientId) {
      const at = now()
      let byClient = uses.get(region)
      if (byClient === undefined) {
        byClient = new Map()
        uses.set(region, byClient)
      }
      let use = byClient.get(clientId)
      if (use === undefined) {
        use = { firstUsed: at, lastUsed: at, written: undefined }
        byClient.set(clientId, use)
      }
      use.lastUsed = Math.max(use.lastUsed, at)

      const previousId = current.get(region)
      if (previousId !== clientId) {
        current.set(region, clientId)
        if (previousId !== undefined) {
          options.logger.info({ region, clientId, previousClientId: previousId }, 'regional client id changed; the previous one stays in the client history')
          options.onChange?.(region)
          // The old client's last use is final now: write it at once, not at the next interval.
          const previous = byClient.get(previousId)
          if (previous !== undefined) write(region, previousId, previous, at)
        }
      }
      if (use.written === undefined || at - use.written >= writeEveryMs) write(region, clientId, use, at)
    },

    async forRegion (region) {
      const merged = new Map<string, { firstUsed: number, lastUsed: number }>()
      for (const [clientId, use] of uses.get(region) ?? []) merged.set(clientId, { firstUsed: use.firstUsed, lastUsed: use.lastUsed })
      if (options.redis !== undefined) {
        try {
          const [firstKey, lastKey] = keys(region)
          const [first, last] = await Promise.all([options.redis.hgetall(firstKey), options.redis.hgetall(lastKey)])
          for (const [clientId, value] of Object.entries(first)) {
            const firstUsed = Number(value)
            const lastUsed = Number(last[clientId] ?? value)
            if (!Number.isFinite(firstUsed) || !Number.isFinite(lastUsed)) continue
            const mine = merged.get(clientId)
            merged.set(clientId, mine === undefined
              ? { firstUsed, lastUsed }
              : { firstUsed: Math.min(mine.firstUsed, firstUsed), lastUsed: Math.max(mine.lastUsed, lastUsed) })
          }
        } catch (error) {
          options.logger.debug({ region, err: (error as Error).message }, 'cannot read the client history from redis; answering from this replica')
        }
      }

      const byFirstUse = [...merged.entries()].sort((a, b) => a[1].firstUsed - b[1].firstUsed)
      const currentClientId = current.get(region) ?? byFirstUse.at(-1)?.[0]
      const previous: PreviousClient[] = byFirstUse
        .map(([clientId, use], index): [string, { firstUsed: number, lastUsed: number }, number | undefined] => [clientId, use, byFirstUse[index + 1]?.[1].firstUsed])
        .filter(([clientId]) => clientId !== currentClientId)
        .sort((a, b) => b[1].lastUsed - a[1].lastUsed)
        .slice(0, MAX_PREVIOUS)
        .map(([clientId, use, next]) => ({
          clientId,
          firstUsedAt: new Date(use.firstUsed).toISOString(),
          lastUsedAt: new Date(use.lastUsed).toISOString(),
          replacedAt: next === undefined ? undefined : new Date(next).toISOString()
        }))
      return { region, currentClientId, previous }
    }
  }
}
