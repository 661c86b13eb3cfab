import type { Grant } from '../config/schema.js'

/** An authenticated internal service. */
export interface Caller {
  name: string
  /** How it proved who it is. */
  via: 'api-key' | 'jwt'
  grants: readonly Grant[]
  /** The caller's own request quota; unset: the broker's default. */
  quota?: { requests: number, windowMs: number } | undefined
}

/**
 * Turns a bearer credential into a caller, or undefined when the credential
 * is not one this verifier recognises as valid. API keys and JWT issuers
 * (Kubernetes service accounts, OIDC). A verifier may instead throw a
 * QB_UNAUTHENTICATED BrokerError to say why a credential of its own kind
 * (e.g. an expired JWT) is refused; the detail never repeats the credential.
 */
export interface CallerVerifier {
  verify (credential: string): Promise<Caller | undefined>
  /**
   * The caller, when this verifier can tell without waiting (an API key: a
   * hash and a lookup), exactly as `verify` would resolve; undefined means
   * ask `verify`. Lets the common request skip a chain of promises
   * (docs/benchmarks.md, "Round 4").
   */
  known?: (credential: string) => Caller | undefined
}

/** Asks each verifier in turn; the first that recognises the credential wins. */
export function combineVerifiers (verifiers: readonly CallerVerifier[]): CallerVerifier {
  const first = verifiers[0]
  return {
    // Only the first verifier's answer is the combined one without asking the others: it wins when it recognises the credential.
    ...(first?.known === undefined ? {} : { known: first.known }),
    async verify (credential) {
      for (const verifier of verifiers) {
        const caller = await verifier.verify(credential)
        if (caller !== undefined) return caller
      }
      return undefined
    }
  }
}
