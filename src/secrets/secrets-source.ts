import type { Sealed } from './sealed.js'

/** One region's machine-to-machine OAuth client, as read from the secrets store. */
export interface RegionCredentials {
  region: string
  clientId: string
  clientSecret: Sealed
  /**
   * Identifies this secret version without revealing it (Vault KV v2 version,
   * or a digest of a file's content). Part of the token cache key, so a
   * rotated secret never reuses tokens minted with the old one.
   */
  version: string
}

export interface SecretsSourceStatus {
  /** Backend kind, e.g. `vault` or `file`. */
  kind: string
  /** True while the backend answered the last time it was asked. */
  reachable: boolean
  /** Regions whose credentials are held in memory and usable. */
  loadedRegions: string[]
  lastError?: string
}

/**
 * Where regional client credentials come from. Implementations keep what
 * they read in memory only and keep serving it when the backend goes away.
 */
export interface SecretsSource {
  readonly kind: string
  /** Current credentials for a region, from memory when already read. */
  get (region: string): Promise<RegionCredentials>
  /**
   * The credentials `get` would answer from memory, without waiting; undefined
   * when it would have to read them (or refuse). Lets a request whose token is
   * in the process cache be served in the same turn, with no promise.
   */
  held? (region: string): RegionCredentials | undefined
  /**
   * Reads the region's credentials from the backend again, bypassing memory.
   * Called when Qlik rejects the client: the secret may have been rotated.
   */
  refresh (region: string): Promise<RegionCredentials>
  status (): SecretsSourceStatus
  close (): Promise<void>
}

/** Thrown when a region's credentials cannot be had. Carries no secret. */
export class SecretsUnavailableError extends Error {
  override readonly name = 'SecretsUnavailableError'
  readonly region: string

  constructor (region: string, reason: string, options?: { cause?: unknown }) {
    super(`credentials for region "${region}" are unavailable: ${reason}`, options)
    this.region = region
  }
}
