import type { Redis } from 'ioredis'

/**
 * The broker's Redis client fails commands at once while disconnected (no
 * offline queue), which is right during an outage but wrong in the first
 * moments after start-up, before the first connection is made. So wait for
 * that first connection only, briefly; a reconnecting client fails fast.
 */
export async function untilConnected (redis: Redis, timeoutMs = 2_000): Promise<void> {
  if (redis.status !== 'wait' && redis.status !== 'connecting' && redis.status !== 'connect') return
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      redis.off('ready', done)
      resolve()
    }
    const timer = setTimeout(done, timeoutMs)
    timer.unref()
    redis.once('ready', done)
  })
}
