import { timingSafeEqual } from 'node:crypto'
import { clientId as randomClientId, clientSecret as randomSecret } from './ids.js'
import type { SimulatorClient } from './types.js'

export interface ClientRecord {
  region: string
  clientId: string
  name: string
}

export interface ClientRegistry {
  regions (): string[]
  get (region: string): ClientRecord | undefined
  /** The region's client when id and secret match, else undefined. */
  verify (region: string, clientId: string, secret: string): ClientRecord | undefined
  /** Sets a new secret (random when omitted) and returns it; throws for an unknown region. */
  rotate (region: string, newSecret?: string): string
  /**
   * Deletes the region's client and creates a new one, as My Qlik does
   * (docs/reference/qlik-cloud-api.md §7, §8): a new id and secret; the old
   * pair is refused from now on. Returns the new client and its secret.
   * Throws RangeError for an unknown region or an id already in use.
   */
  recreate (region: string, input?: { clientId?: string | undefined, clientSecret?: string | undefined }): { client: ClientRecord, clientSecret: string, previous: ClientRecord }
  /** Restores the clients and secrets given at start-up. */
  reset (): void
}

function sameSecret (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function createClientRegistry (clients: SimulatorClient[]): ClientRegistry {
  const records = new Map<string, ClientRecord>()
  const initial = new Map<string, { record: ClientRecord, secret: string }>()
  // Secrets live apart from the records so that a record can be handed out and logged.
  const secrets = new Map<string, string>()
  for (const c of clients) {
    records.set(c.region, { region: c.region, clientId: c.clientId, name: c.name ?? `${c.region.toUpperCase()} OAuth Client` })
    initial.set(c.region, { record: records.get(c.region) as ClientRecord, secret: c.clientSecret })
    secrets.set(c.region, c.clientSecret)
  }

  return {
    regions: () => [...records.keys()],
    get: (region) => records.get(region),
    verify (region, clientId, secret) {
      const record = records.get(region)
      const current = secrets.get(region)
      if (record === undefined || current === undefined) return undefined
      if (record.clientId !== clientId || !sameSecret(current, secret)) return undefined
      return record
    },
    rotate (region, newSecret) {
      if (!records.has(region)) throw new RangeError(`unknown region "${region}"`)
      if (newSecret !== undefined && newSecret === '') throw new RangeError('clientSecret must not be empty')
      const secret = newSecret ?? randomSecret()
      secrets.set(region, secret)
      return secret
    },
    recreate (region, input = {}) {
      const previous = records.get(region)
      if (previous === undefined) throw new RangeError(`unknown region "${region}"`)
      const id = input.clientId ?? randomClientId()
      if ([...records.values()].some((record) => record.clientId === id) || id === previous.clientId) throw new RangeError(`client id "${id}" is already in use`)
      const client: ClientRecord = { region, clientId: id, name: previous.name }
      const secret = input.clientSecret ?? randomSecret()
      records.set(region, client)
      secrets.set(region, secret)
      return { client, clientSecret: secret, previous }
    },
    reset () {
      for (const [region, { record, secret }] of initial) {
        records.set(region, record)
        secrets.set(region, secret)
      }
    }
  }
}
