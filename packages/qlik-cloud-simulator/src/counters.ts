import type { SimulatorCounters } from './types.js'

export interface Counters {
  request (key: string): void
  mint (host: string): void
  tokenRequest (): void
  expiredToken (): void
  foreignHostToken (): void
  unknownToken (): void
  rateLimited (): void
  injectedError (): void
  injectedRateLimit (): void
  unknownHost (): void
  snapshot (): SimulatorCounters
  reset (): void
}

export function createCounters (): Counters {
  // Maps rather than objects: keys come from Host headers and must not hit Object.prototype.
  let mints = new Map<string, number>()
  let requests = new Map<string, number>()
  let scalars = zeroes()

  function zeroes () {
    return {
      tokenRequests: 0,
      expiredTokenRequests: 0,
      foreignHostTokenRequests: 0,
      unknownTokenRequests: 0,
      rateLimited: 0,
      injectedErrors: 0,
      injectedRateLimits: 0,
      unknownHostRequests: 0
    }
  }

  return {
    request (key) { requests.set(key, (requests.get(key) ?? 0) + 1) },
    mint (host) { mints.set(host, (mints.get(host) ?? 0) + 1) },
    tokenRequest () { scalars.tokenRequests++ },
    expiredToken () { scalars.expiredTokenRequests++ },
    foreignHostToken () { scalars.foreignHostTokenRequests++ },
    unknownToken () { scalars.unknownTokenRequests++ },
    rateLimited () { scalars.rateLimited++ },
    injectedError () { scalars.injectedErrors++ },
    injectedRateLimit () { scalars.injectedRateLimits++ },
    unknownHost () { scalars.unknownHostRequests++ },
    snapshot () {
      return {
        mints: Object.fromEntries(mints),
        tokenRequests: scalars.tokenRequests,
        requests: Object.fromEntries(requests),
        expiredTokenRequests: scalars.expiredTokenRequests,
        foreignHostTokenRequests: scalars.foreignHostTokenRequests,
        unknownTokenRequests: scalars.unknownTokenRequests,
        rateLimited: scalars.rateLimited,
        injected: { errors: scalars.injectedErrors, rateLimits: scalars.injectedRateLimits },
        unknownHostRequests: scalars.unknownHostRequests
      }
    },
    reset () {
      mints = new Map()
      requests = new Map()
      scalars = zeroes()
    }
  }
}
