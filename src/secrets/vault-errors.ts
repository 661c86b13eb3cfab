/**
 * A failed call to Vault, reduced to what is safe to keep: status, transport
 * code and Vault's messages with every credential sent on the call scrubbed
 * out. node-vault's own errors are never passed on, because an AxiosError
 * carries the request config (the X-Vault-Token header, the login body).
 */
export class VaultRequestError extends Error {
  override readonly name = 'VaultRequestError'
  /** HTTP status Vault answered with; undefined when Vault was not reached. */
  readonly status: number | undefined
  /** Transport failure (ECONNREFUSED, ETIMEDOUT, ...) when Vault was not reached. */
  readonly code: string | undefined
  /** Vault's `errors`, multierror layout flattened ("permission denied; invalid token"). */
  readonly vaultErrors: readonly string[]
  /**
   * `data` of a 404 reply. KV v2 answers a deleted or destroyed version with
   * a full envelope whose `data.metadata` says which; never secret data.
   */
  readonly data: unknown

  constructor (init: { status?: number, code?: string, vaultErrors?: string[], data?: unknown, message?: string }) {
    const vaultErrors = init.vaultErrors ?? []
    super(init.message ?? (init.status === undefined
      ? `Vault unreachable (${init.code ?? 'unknown error'})`
      : `Vault answered ${init.status}${vaultErrors.length > 0 ? `: ${vaultErrors.join('; ')}` : ''}`))
    this.status = init.status
    this.code = init.code
    this.vaultErrors = vaultErrors
    this.data = init.data
  }
}

/** Codes for failures on our side of a call that did not fail in transport. */
export const NOT_TRANSPORT = new Set(['EBADRESPONSE', 'EINVALIDREQUEST'])

/** A login (or reading what it needs, like the service account token) failed. */
export class VaultLoginError extends Error {
  override readonly name = 'VaultLoginError'
}

/** Vault was not reached, or answered that it cannot serve (sealed, no active node). */
export function isVaultUnreachable (err: unknown): boolean {
  const request = err instanceof VaultLoginError ? err.cause : err
  if (!(request instanceof VaultRequestError)) return false
  if (request.status === undefined) return !NOT_TRANSPORT.has(request.code ?? '')
  return request.status === 503
}

/** A short, secret-free description of why a Vault call failed. */
export function describeVaultError (err: unknown): string {
  if (err instanceof VaultRequestError) {
    switch (err.status) {
      case undefined: return err.message
      case 403: return 'permission denied'
      case 429: return 'rate limited by Vault (429)'
      case 503: return 'Vault is sealed or unavailable (503)'
      default: return err.vaultErrors.length > 0 ? `Vault answered ${err.status}: ${err.vaultErrors.join('; ')}` : `Vault answered ${err.status}`
    }
  }
  if (err instanceof VaultLoginError) return err.message
  // Anything else is a bug or a library surprise; its message may hold anything.
  return `unexpected ${err instanceof Error ? err.name : typeof err}`
}
