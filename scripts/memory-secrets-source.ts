import type { SecretsSource } from '../src/secrets/secrets-source.js'
import { SecretsUnavailableError } from '../src/secrets/secrets-source.js'

/** A secrets source holding nothing, for building the app without a backend. */
export function createMemorySecretsSource (): SecretsSource {
  const none = async (region: string): Promise<never> => { throw new SecretsUnavailableError(region, 'no secrets in this process') }
  return {
    kind: 'none',
    get: none,
    refresh: none,
    status: () => ({ kind: 'none', reachable: true, loadedRegions: [] }),
    close: async () => {}
  }
}
