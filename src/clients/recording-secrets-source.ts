import type { RegionCredentials, SecretsSource } from '../secrets/secrets-source.js'
import type { ClientHistory } from './client-history.js'

/**
 * A secrets source that tells the client history which client id each region
 * uses: every credential handed out (a request or a token refresh needs
 * them) is a use. Behaves as the wrapped source in every other way.
 */
export function recordClientUse<T extends SecretsSource> (source: T, history: ClientHistory): T {
  const record = (credentials: RegionCredentials): RegionCredentials => {
    history.used(credentials.region, credentials.clientId)
    return credentials
  }
  const wrapped: SecretsSource = {
    kind: source.kind,
    get: async (region) => record(await source.get(region)),
    held: (region) => {
      const credentials = source.held?.(region)
      return credentials === undefined ? undefined : record(credentials)
    },
    refresh: async (region) => record(await source.refresh(region)),
    status: () => source.status(),
    close: async () => { await source.close() }
  }
  // Keeps whatever else the source offers (the Vault source's start() and currentVersion()).
  return { ...source, ...wrapped }
}
