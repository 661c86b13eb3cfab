import type { Sealed } from '../secrets/sealed.js'

/**
 * How long a "this key's token moved" note is kept: long enough for every
 * replica still holding the old secret version to follow it instead of
 * asking Qlik with a secret it has refused.
 */
export const MOVED_TTL_MS = 10 * 60_000

export interface CachedToken {
  accessToken: Sealed
  /** When it was minted (epoch ms); with expiresAt it gives the lifetime, for refresh-ahead. */
  issuedAt: number
  /** When Qlik says the token expires (epoch ms). */
  expiresAt: number
}

/** The right to mint one key's token, held by one replica at a time. */
export interface MintLock {
  /**
   * Stores the token only while this lock is still held (the fence), then
   * releases the lock and wakes the replicas waiting for it. False when the
   * lease was lost meanwhile: the token was not stored.
   */
  commit (token: CachedToken, ttlMs: number): Promise<boolean>
  /**
   * Gives the lock up without storing anything (the mint failed) and wakes
   * the waiters. `movedTo` names the key the token is being minted under
   * instead (a newer secret version), so waiters follow it rather than mint
   * with a secret Qlik has just refused.
   */
  release (movedTo?: string): Promise<void>
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
  /**
   * Takes the lock for minting `key` across every replica sharing the store,
   * with a lease renewed while it is held (a holder that dies loses it when
   * the lease runs out). Undefined when another holder has it.
   */
  tryLock (key: string, leaseMs: number): Promise<MintLock | undefined>
  /** The key a lock holder said `key`'s token moved to (see `MintLock.release`), if it said so recently. */
  movedTo (key: string): Promise<string | undefined>
  /** Resolves when the holder of `key`'s lock commits or gives up, or after `timeoutMs`. */
  waitForMint (key: string, timeoutMs: number): Promise<void>
  close (): Promise<void>
}
