import { createHash } from 'node:crypto'
import type { RedisClient } from './redis-client.js'

export interface LuaScript {
  (redis: RedisClient, keyCount: number, ...args: Array<string | number>): Promise<unknown>
  /** The script's text and its SHA-1, for a caller that queues it in a pipeline (EVALSHA, then EVAL on NOSCRIPT). */
  readonly source: string
  readonly sha: string
}

/**
 * A Lua script run by its SHA-1 (EVALSHA): its text crosses the wire only
 * when Redis does not have it yet (first use, after a restart or a failover),
 * instead of with every call as EVAL sends it.
 */
export function luaScript (source: string): LuaScript {
  const sha = createHash('sha1').update(source).digest('hex')
  const run = async (redis: RedisClient, keyCount: number, ...args: Array<string | number>): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, keyCount, ...args)
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return await redis.eval(source, keyCount, ...args)
    }
  }
  return Object.assign(run, { source, sha })
}
