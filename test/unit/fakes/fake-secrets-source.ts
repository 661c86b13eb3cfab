import { seal } from '../../../src/secrets/sealed.js'
import { SecretsUnavailableError, type RegionCredentials, type SecretsSource, type SecretsSourceStatus } from '../../../src/secrets/secrets-source.js'

export interface FakeSecret {
  clientId: string
  clientSecret: string
  version: string
}

export interface FakeSecretsSource extends SecretsSource {
  /** Calls of `get`, `refresh` and `held`, per kind. */
  readonly calls: { get: number, refresh: number, held: number }
  /** What the next `get`/`refresh` returns for the region (a secret rotated in the store). */
  put (region: string, secret: FakeSecret): void
  /** Makes the region unavailable (`get` and `refresh` reject). */
  remove (region: string): void
}

/**
 * In-memory secrets: `get` and `refresh` both read the current entry and
 * count their calls. With `holds`, the source also answers `held` (as the
 * file and Vault sources do): the current entry, or undefined once removed.
 */
export function createFakeSecretsSource (initial: Readonly<Record<string, FakeSecret>>, options: { holds?: boolean } = {}): FakeSecretsSource {
  const secrets = new Map(Object.entries(initial))
  const calls = { get: 0, refresh: 0, held: 0 }

  function read (region: string): RegionCredentials {
    const secret = secrets.get(region)
    if (secret === undefined) throw new SecretsUnavailableError(region, 'not in the fake store')
    return { region, clientId: secret.clientId, clientSecret: seal(secret.clientSecret), version: secret.version }
  }

  return {
    kind: 'fake',
    calls,
    put (region, secret) { secrets.set(region, secret) },
    remove (region) { secrets.delete(region) },
    async get (region) {
      calls.get++
      return read(region)
    },
    async refresh (region) {
      calls.refresh++
      return read(region)
    },
    ...(options.holds === true
      ? {
          held (region: string) {
            calls.held++
            return secrets.has(region) ? read(region) : undefined
          }
        }
      : {}),
    status (): SecretsSourceStatus {
      return { kind: 'fake', reachable: true, loadedRegions: [...secrets.keys()] }
    },
    async close () {}
  }
}
