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
}

/** Asks each verifier in turn; the first that recognises the credential wins. */
export function combineVerifiers (verifiers: readonly CallerVerifier[]): CallerVerifier {
  return {
    async verify (credential) {
      for (const verifier of verifiers) {
        const caller = await verifier.verify(credential)
        if (caller !== undefined) return caller
      }
      return undefined
    }
  }
}
