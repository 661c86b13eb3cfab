import { duplicateClient, type RedisClient } from '../redis/redis-client.js'
import type { RegistryChangeFeed } from './cached-tenant-registry.js'

/** The channel every registry write publishes to (the message is the region), in the same step as the write. */
export function registryChangesChannel (keyPrefix: string): string {
  return `${keyPrefix}registry:changed`
}

/**
 * Registry writes announced by Redis pub/sub, on a connection of its own (a
 * subscribed connection takes no other command). Live from the moment Redis
 * confirms the subscription until the connection drops; ioredis reconnects and
 * subscribes again, and the feed is live again once Redis confirms that. A
 * message published while it was not live is lost, which is why the cache
 * keeps nothing then. On a Cluster, PUBLISH reaches every node.
 */
export function subscribeRegistryChanges (options: { redis: RedisClient, keyPrefix: string }): RegistryChangeFeed {
  const channel = registryChangesChannel(options.keyPrefix)
  const subscriber = duplicateClient(options.redis, { enableOfflineQueue: true })
  const listeners: Array<() => void> = []
  let live = false
  let closed = false
  const changed = (): void => { for (const listener of listeners) listener() }
  const setLive = (value: boolean): void => {
    if (live === value) return
    live = value
    changed()
  }
  subscriber.on('error', () => {})
  subscriber.on('message', (from: string) => { if (from === channel) changed() })
  for (const event of ['close', 'end', 'reconnecting']) subscriber.on(event, () => { setLive(false) })
  // On every (re)connection: live once Redis answers this SUBSCRIBE, so no write can fall between.
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(() => { if (!closed) setLive(true) }, () => { setLive(false) })
  })
  return {
    live: () => live,
    onChange (listener) { listeners.push(listener) },
    async close () {
      closed = true
      setLive(false)
      subscriber.disconnect()
    }
  }
}
