import type { Sealed } from '../secrets/sealed.js'

export interface CachedToken {
  accessToken: Sealed
  /** When Qlik says the token expires (epoch ms). */
  expiresAt: number
}

/**
 * Shared cache of access tokens, keyed by (region, host, client id, secret
 * version). Implementations never hold a token in clear outside the process.
 */
export interface TokenStore {
  readonly kind: string
  get (key: string): Promise<CachedToken | undefined>
  /** Stores the token for `ttlMs`, after which the store forgets it by itself. */
  set (key: string, token: CachedToken, ttlMs: number): Promise<void>
  /** Removes the entry, but only while it still holds `accessToken` (a 401 must not evict a newer token). */
  deleteIfMatches (key: string, accessToken: string): Promise<void>
  close (): Promise<void>
}
