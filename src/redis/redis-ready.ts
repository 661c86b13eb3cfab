import type { RedisClient } from './redis-client.js'

/** One wait per client however many callers ask (no listener per caller). */
const firstConnections = new WeakMap<RedisClient, Promise<void>>()

/**
 * The broker's Redis client fails commands at once while disconnected (no
 * offline queue), which is right during an outage but wrong in the first
 * moments after start-up, before the first connection is made. So wait for
 * that first connection only, briefly; a reconnecting client fails fast.
 */
export async function untilConnected (redis: RedisClient, timeoutMs = 2_000): Promise<void> {
  if (redis.status !== 'wait' && redis.status !== 'connecting' && redis.status !== 'connect') return
  let waiting = firstConnections.get(redis)
  if (waiting === undefined) {
    waiting = new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        redis.off('ready', done)
        firstConnections.delete(redis)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      timer.unref()
      redis.once('ready', done)
    })
    firstConnections.set(redis, waiting)
  }
  await waiting
}
