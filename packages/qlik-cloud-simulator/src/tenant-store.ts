import * as ids from './ids.js'
import { defaultDatacenter, isTenantHostname } from './regions.js'
import { newBotUser } from './user-records.js'
import { createTenantContent } from './content-store.js'
import type { TenantContent } from './content-store.js'
import type { ClientRecord } from './clients.js'
import type { AddTenantInput, Space, Tenant, TenantStatus, User } from './types.js'

/** What a known host is. Precomputed per host so requests allocate nothing to find it. */
export type Site =
  | { kind: 'register', region: string, scope: string }
  | { kind: 'tenant', region: string, tenantId: string, scope: string }

export interface TenantRecord {
  tenant: Tenant
  /** Insertion order is listing order. */
  users: Map<string, User>
  /** clientId → bot user, created on the client's first use on this tenant. */
  bots: Map<string, User>
  spaces: Map<string, Space>
  /** Apps, app objects, data files, automations and their connections (reference §7). */
  content: TenantContent
  /** The license key it was created with through the API (for the tenant quota). */
  licenseKey?: string | undefined
}

export interface TenantStore {
  registerHost (region: string): string
  resolveHost (host: string): Site | undefined
  /** Throws a RangeError on an unknown region, a bad or taken hostname, or a taken id. */
  create (input: AddTenantInput): TenantRecord
  get (id: string): TenantRecord | undefined
  list (): TenantRecord[]
  /** True when `host` is already any tenant's or register hostname. */
  isTaken (host: string): boolean
  /** Replaces the alias (hostnames[1]); the old alias stops resolving. */
  setAlias (record: TenantRecord, hostname: string): void
  setStatus (record: TenantRecord, status: TenantStatus): void
  touch (record: TenantRecord): void
  ensureBotUser (record: TenantRecord, client: ClientRecord): User
  reset (): void
}

export function createTenantStore (options: { domain: string, regions: string[], now: () => number }): TenantStore {
  const { domain, now } = options
  const regions = new Set(options.regions)
  const hosts = new Map<string, Site>()
  const tenants = new Map<string, TenantRecord>()
  const registerHost = (region: string): string => `register.${region}.${domain}`

  function addRegisterHosts (): void {
    for (const region of regions) hosts.set(registerHost(region), { kind: 'register', region, scope: `register:${region}` })
  }
  addRegisterHosts()

  const iso = (): string => new Date(now()).toISOString()

  function uniqueName (region: string): string {
    for (;;) {
      const name = ids.tenantName()
      if (!hosts.has(`${name}.${region}.${domain}`)) return name
    }
  }

  function uniqueId (): string {
    for (;;) {
      const id = ids.tenantId()
      if (!tenants.has(id)) return id
    }
  }

  return {
    registerHost,
    resolveHost: (host) => hosts.get(host),
    create (input) {
      const region = input.region
      if (!regions.has(region)) throw new RangeError(`unknown region "${region}"`)
      if (input.id !== undefined && tenants.has(input.id)) throw new RangeError(`tenant id "${input.id}" is taken`)
      const id = input.id ?? uniqueId()
      const hostnames = input.hostnames?.map((h) => h.toLowerCase()) ?? [`${uniqueName(region)}.${region}.${domain}`]
      const first = hostnames[0]
      if (first === undefined) throw new RangeError('hostnames must not be empty')
      for (const h of hostnames) {
        if (!isTenantHostname(h, region, domain)) throw new RangeError(`hostname "${h}" is not <name>.${region}.${domain}`)
        if (hosts.has(h)) throw new RangeError(`hostname "${h}" is taken`)
      }
      if (new Set(hostnames).size !== hostnames.length) throw new RangeError('hostnames must be unique')
      const t = iso()
      const tenant: Tenant = {
        id,
        // Qlik generates the name and the first hostname from it.
        name: input.name ?? first.slice(0, first.indexOf('.')),
        hostnames,
        region,
        datacenter: input.datacenter ?? defaultDatacenter(region),
        status: input.status ?? 'active',
        statusLastUpdatedAt: t,
        created: t,
        lastUpdated: t,
        createdByUser: '',
        links: { self: { href: `https://${registerHost(region)}/api/v1/tenants/${id}` } },
        autoAssignCreateSharedSpacesRoleToProfessionals: true,
        autoAssignPrivateAnalyticsContentCreatorRoleToProfessionals: true,
        autoAssignDataServicesContributorRoleToProfessionals: true,
        enableAnalyticCreation: false,
        enableAppOpeningFeedback: true
      }
      const record: TenantRecord = { tenant, users: new Map(), bots: new Map(), spaces: new Map(), content: createTenantContent() }
      tenants.set(id, record)
      const site: Site = { kind: 'tenant', region, tenantId: id, scope: `tenant:${id}` }
      for (const h of hostnames) hosts.set(h, site)
      return record
    },
    get: (id) => tenants.get(id),
    list: () => [...tenants.values()],
    isTaken: (host) => hosts.has(host),
    setAlias (record, hostname) {
      const { tenant } = record
      const site = hosts.get(tenant.hostnames[0] as string)
      const old = tenant.hostnames[1]
      if (old !== undefined && old !== hostname) hosts.delete(old)
      tenant.hostnames[1] = hostname
      if (site !== undefined) hosts.set(hostname, site)
    },
    setStatus (record, status) {
      record.tenant.status = status
      record.tenant.statusLastUpdatedAt = iso()
      record.tenant.lastUpdated = record.tenant.statusLastUpdatedAt
    },
    touch (record) {
      record.tenant.lastUpdated = iso()
    },
    ensureBotUser (record, client) {
      const existing = record.bots.get(client.clientId)
      if (existing !== undefined) return existing
      const user = newBotUser({
        tenantId: record.tenant.id,
        host: record.tenant.hostnames[0] as string,
        clientId: client.clientId,
        name: client.name,
        at: iso()
      })
      record.bots.set(client.clientId, user)
      record.users.set(user.id, user)
      return user
    },
    reset () {
      tenants.clear()
      hosts.clear()
      addRegisterHosts()
    }
  }
}
