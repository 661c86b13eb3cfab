import { accessToken } from './ids.js'

export interface TokenRecord {
  token: string
  /** `register:<region>` or `tenant:<id>`: what the token is good for. */
  scope: string
  /** Host the token was minted on. */
  host: string
  region: string
  clientId: string
  expiresAt: number
}

export interface TokenStore {
  mint (input: { scope: string, host: string, region: string, clientId: string }): TokenRecord
  lookup (token: string): TokenRecord | undefined
  /** Forgets tokens of one scope, or all. Returns how many were still valid. */
  revoke (scope?: string): number
  /** Forgets every token minted with this client id (a deleted client's tokens die with it). Returns how many were still valid. */
  revokeClient (clientId: string): number
  clear (): void
  /** Every token value minted and still remembered, for leak checks in tests. */
  values (): string[]
}

// Expired tokens stay in memory so that using one is counted as "expired",
// not "unknown". Past this size, mints sweep the long-expired ones.
const SWEEP_ABOVE = 50_000
const KEEP_EXPIRED_MS = 60 * 60 * 1000

export function createTokenStore (options: { lifetimeMs: number, now: () => number }): TokenStore {
  const { lifetimeMs, now } = options
  const tokens = new Map<string, TokenRecord>()

  function sweep (t: number): void {
    for (const [token, record] of tokens) {
      if (record.expiresAt + KEEP_EXPIRED_MS < t) tokens.delete(token)
    }
  }

  return {
    mint (input) {
      const t = now()
      if (tokens.size > SWEEP_ABOVE) sweep(t)
      const record: TokenRecord = { token: accessToken(), ...input, expiresAt: t + lifetimeMs }
      tokens.set(record.token, record)
      return record
    },
    lookup: (token) => tokens.get(token),
    revoke (scope) {
      const t = now()
      let n = 0
      for (const [token, record] of tokens) {
        if (scope !== undefined && record.scope !== scope) continue
        tokens.delete(token)
        if (record.expiresAt > t) n++
      }
      return n
    },
    revokeClient (clientId) {
      const t = now()
      let n = 0
      for (const [token, record] of tokens) {
        if (record.clientId !== clientId) continue
        tokens.delete(token)
        if (record.expiresAt > t) n++
      }
      return n
    },
    clear () { tokens.clear() },
    values: () => [...tokens.keys()]
  }
}
