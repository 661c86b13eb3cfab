import type { TokenEndpoint } from '../../../src/qlik/token-endpoint.js'
import type { UpstreamTarget } from '../../../src/qlik/upstream-client.js'
import type { RegionCredentials } from '../../../src/secrets/secrets-source.js'
import { seal } from '../../../src/secrets/sealed.js'
import type { CachedToken } from '../../../src/tokens/token-store.js'

export interface MintCall {
  target: UpstreamTarget
  clientId: string
  clientSecret: string
  version: string
  requestId: string | undefined
}

export type MintBehaviour = (call: MintCall, index: number) => Promise<CachedToken> | CachedToken

export interface FakeTokenEndpoint extends TokenEndpoint {
  /** Every mint attempt, in order (including the ones that threw). */
  readonly calls: MintCall[]
  /** Replaces how the next attempts are answered. */
  answerWith (behaviour: MintBehaviour): void
}

/**
 * A token endpoint that answers from a function of the call; by default a
 * fresh token `token-<n>` valid for `lifetimeMs` from `now()`.
 */
export function createFakeTokenEndpoint (options: { now: () => number, lifetimeMs?: number }): FakeTokenEndpoint {
  const calls: MintCall[] = []
  const lifetimeMs = options.lifetimeMs ?? 3_600_000
  let behaviour: MintBehaviour = (_call, index) => ({ accessToken: seal(`token-${index + 1}`), issuedAt: options.now(), expiresAt: options.now() + lifetimeMs })

  return {
    calls,
    answerWith (next) { behaviour = next },
    async mint (target, credentials: RegionCredentials, requestId) {
      const call: MintCall = { target, clientId: credentials.clientId, clientSecret: credentials.clientSecret.reveal(), version: credentials.version, requestId }
      calls.push(call)
      return await behaviour(call, calls.length - 1)
    }
  }
}
