import type { TokenStore } from '../../../src/tokens/token-store.js'

type Method = 'get' | 'set' | 'deleteIfMatches' | 'tryLock' | 'movedTo' | 'waitForMint'

/** A shared store that is down: every method rejects, and each call is counted. */
export function createFailingTokenStore (message = 'connect ECONNREFUSED 127.0.0.1:6379'): TokenStore & { calls: Record<Method, number> } {
  const calls: Record<Method, number> = { get: 0, set: 0, deleteIfMatches: 0, tryLock: 0, movedTo: 0, waitForMint: 0 }
  const fail = async (method: Method): Promise<never> => {
    calls[method]++
    throw new Error(message)
  }
  return {
    kind: 'failing',
    calls,
    get: async () => await fail('get'),
    set: async () => await fail('set'),
    deleteIfMatches: async () => await fail('deleteIfMatches'),
    tryLock: async () => await fail('tryLock'),
    movedTo: async () => await fail('movedTo'),
    waitForMint: async () => await fail('waitForMint'),
    async close () {}
  }
}
