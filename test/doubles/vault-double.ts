import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A HashiCorp Vault test double: a real HTTP server that answers the few
 * endpoints the broker uses with Vault's own envelopes, statuses and messages
 * (see docs/reference/vault-api.md §1–§4 and the checklist in §7).
 * It keeps everything in memory and is driven by the controls on the
 * returned object, never by HTTP, so a test cannot confuse the two.
 */

/** What a token may do beyond the `default` policy (lookup-self, renew-self). */
export interface TokenGrant {
  /** Policy names reported in `auth.policies`; `['default']` when omitted. */
  policies?: string[]
  /**
   * Logical paths (no `/v1/`) the token may use, matched as prefixes like a
   * policy path ending in `*`. Omitted: everything is allowed.
   */
  allowedPaths?: string[]
}

export interface TokenLifetime {
  /** Seconds a login (or a renewal without increment) grants; 0 = never expires. */
  ttlSeconds?: number
  /** Seconds after issue beyond which renewals are capped; 0 = no cap. */
  maxTtlSeconds?: number
}

export interface StaticTokenOptions extends TokenGrant, TokenLifetime {
  token: string
  /** Defaults to true when the token has a TTL. */
  renewable?: boolean
}

export interface AppRoleOptions extends TokenGrant, TokenLifetime {
  /** Auth mount, default `approle`. */
  mount?: string
  roles: Array<{ roleName: string, roleId: string, secretId: string }>
}

export interface KubernetesRoleOptions {
  /** JWTs this role accepts (stands in for TokenReview). */
  jwts: string[]
  serviceAccountName?: string
  serviceAccountNamespace?: string
}

export interface KubernetesOptions extends TokenGrant, TokenLifetime {
  /** Auth mount, default `kubernetes`. */
  mount?: string
  roles: Record<string, KubernetesRoleOptions>
}

export interface VaultDoubleOptions {
  /** KV v2 mounts, default `['secret']`. */
  kvMounts?: string[]
  tokens?: StaticTokenOptions[]
  approle?: AppRoleOptions
  kubernetes?: KubernetesOptions
  /**
   * When set, every non-health request must carry this namespace in
   * `X-Vault-Namespace` (Enterprise/HCP); others get 403.
   */
  namespace?: string
  /** Clock for token lifetimes and timestamps, default `Date.now`. */
  now?: () => number
  /** Reported by sys/health, default `1.19.0`. */
  version?: string
  /** Vault sends `mount_type`; OpenBao does not. Default true. */
  mountType?: boolean
  /** Port to listen on, default 0 (any free port). */
  port?: number
}

export interface LoginRecord {
  method: 'approle' | 'kubernetes'
  mount: string
  /** Role name (kubernetes) or role_id (approle) as sent. */
  role: string | undefined
  /** The JWT as sent, so a test can see a rotated token file was re-read. */
  jwt: string | undefined
  status: number
  at: number
}

export type StandbyMode = false | 'standby' | 'performance'

export interface VaultDouble {
  readonly url: string
  readonly port: number
  close (): Promise<void>
  /** Stops listening and drops open connections; state is kept. */
  stop (): Promise<void>
  /** Listens again on the same port after `stop()`. */
  start (): Promise<void>

  /** Writes a new KV v2 version; returns its number. */
  writeSecret (mount: string, path: string, data: Record<string, unknown>): number
  /** Soft-deletes a version (default: the current one). */
  deleteSecretVersion (mount: string, path: string, version?: number): void
  destroySecretVersion (mount: string, path: string, version?: number): void

  seal (): void
  unseal (): void
  setStandby (mode: StandbyMode): void
  setInitialized (initialized: boolean): void
  setQuotaExceeded (exceeded: boolean): void
  /** Delays every answer, e.g. to trip a client's timeout. */
  setResponseDelay (ms: number): void
  /** Makes a Kubernetes role accept exactly these JWTs from now on. */
  setKubernetesJwts (role: string, jwts: string[]): void
  /**
   * Makes an AppRole role (by name) accept exactly these secret IDs from now
   * on, as generating a new one (`auth/approle/role/:name/secret-id`) and
   * destroying the old one (`.../secret-id/destroy`) would.
   */
  setAppRoleSecretIds (roleName: string, secretIds: string[]): void
  /** Expires every token that has a TTL, as if its lease had run out. */
  expireTokens (): void
  revokeToken (token: string): void

  /** Requests by `METHOD /v1/<pattern>`, e.g. `GET /v1/secret/data/*`. */
  readonly requests: Record<string, number>
  /** Successful logins by auth method (`approle`, `kubernetes`). */
  readonly logins: Record<string, number>
  /** Successful renew-self calls. */
  readonly renewals: number
  /** Authorised KV v2 data reads by logical path, e.g. `secret/data/qlik/eu`. */
  readonly reads: Record<string, number>
  readonly loginLog: LoginRecord[]
  /** Every client token handed out by a login. */
  readonly issuedTokens: string[]
  resetCounters (): void
}

interface TokenEntry {
  id: string
  accessor: string
  policies: string[]
  allowedPaths: string[] | undefined
  path: string
  displayName: string
  meta: Record<string, string> | null
  issuedAt: number
  /** null: never expires (root-like). */
  expiresAt: number | null
  maxExpiresAt: number | null
  creationTtl: number
  defaultTtl: number
  renewable: boolean
  lastRenewal: number | undefined
}

interface KvVersion {
  data: Record<string, unknown>
  createdTime: string
  deletionTime: string
  destroyed: boolean
}

interface KvSecret {
  createdTime: string
  updatedTime: string
  currentVersion: number
  versions: Map<number, KvVersion>
}

interface Reply {
  status: number
  body?: unknown
}

const POLICY_DENIED = '1 error occurred:\n\t* permission denied\n\n'
const INVALID_TOKEN = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'
const KV_V1_PATH_WARNING = 'Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use \'vault kv get\' for this operation.'
const DEFAULT_LOGIN_TTL = 3600
const DEFAULT_LOGIN_MAX_TTL = 768 * 3600
const HEALTH_CODE_PARAMS = ['activecode', 'standbycode', 'drsecondarycode', 'performancestandbycode', 'sealedcode', 'uninitcode', 'removedcode', 'haunhealthycode']

export async function createVaultDouble (options: VaultDoubleOptions = {}): Promise<VaultDouble> {
  const now = options.now ?? Date.now
  const kvMounts = options.kvMounts ?? ['secret']
  const approleMount = options.approle?.mount ?? 'approle'
  const kubernetesMount = options.kubernetes?.mount ?? 'kubernetes'
  const namespace = options.namespace === undefined ? undefined : trimSlashes(options.namespace)
  const mountType = options.mountType ?? true
  const clusterId = randomUUID()

  const kv = new Map<string, Map<string, KvSecret>>(kvMounts.map((m) => [trimSlashes(m), new Map()]))
  const tokens = new Map<string, TokenEntry>()
  const approleSecretIds = new Map((options.approle?.roles ?? []).map((role) => [role.roleName, [role.secretId]]))
  const kubernetesRoles = new Map(Object.entries(options.kubernetes?.roles ?? {}).map(([name, role]) => [name, { ...role, jwts: [...role.jwts] }]))

  let sealed = false
  let standby: StandbyMode = false
  let initialized = true
  let quotaExceeded = false
  let responseDelayMs = 0

  let requests: Record<string, number> = {}
  let logins: Record<string, number> = {}
  let reads: Record<string, number> = {}
  let renewals = 0
  const loginLog: LoginRecord[] = []
  const issuedTokens: string[] = []
  const delayTimers = new Set<NodeJS.Timeout>()

  for (const t of options.tokens ?? []) {
    const ttl = t.ttlSeconds ?? 0
    const issuedAt = now()
    tokens.set(t.token, {
      id: t.token,
      accessor: randomAlnum(24),
      policies: t.policies ?? (ttl === 0 ? ['root'] : ['default']),
      allowedPaths: t.allowedPaths,
      path: 'auth/token/create',
      displayName: 'token',
      meta: null,
      issuedAt,
      expiresAt: ttl > 0 ? issuedAt + ttl * 1000 : null,
      maxExpiresAt: ttl > 0 && (t.maxTtlSeconds ?? 0) > 0 ? issuedAt + (t.maxTtlSeconds ?? 0) * 1000 : null,
      creationTtl: ttl,
      defaultTtl: ttl,
      renewable: t.renewable ?? ttl > 0,
      lastRenewal: undefined
    })
  }

  // Vault timestamps are RFC 3339 with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano).
  function timestamp (ms: number = now()): string {
    const iso = new Date(ms).toISOString()
    const nanos = `${iso.slice(20, 23)}${String(process.hrtime.bigint() % 1000000n).padStart(6, '0')}`.replace(/0+$/, '')
    return `${iso.slice(0, 19)}${nanos === '' ? '' : `.${nanos}`}Z`
  }

  function envelope (parts: { data?: unknown, auth?: unknown, warnings?: string[], mountType?: string }): Record<string, unknown> {
    const body: Record<string, unknown> = {
      request_id: randomUUID(),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: parts.data ?? null,
      wrap_info: null,
      warnings: parts.warnings !== undefined && parts.warnings.length > 0 ? parts.warnings : null,
      auth: parts.auth ?? null
    }
    if (mountType) body['mount_type'] = parts.mountType ?? ''
    return body
  }

  const errors = (status: number, ...messages: string[]): Reply => ({ status, body: { errors: messages } })

  // ---- tokens ----

  function liveToken (id: string | undefined): TokenEntry | undefined {
    if (id === undefined || id === '') return undefined
    const entry = tokens.get(id)
    if (entry === undefined) return undefined
    if (entry.expiresAt !== null && now() >= entry.expiresAt) {
      // Vault revokes a token once its lease ends; after that it is unknown.
      tokens.delete(id)
      return undefined
    }
    return entry
  }

  function issueToken (grant: TokenGrant & TokenLifetime, path: string, displayName: string, meta: Record<string, string>): TokenEntry {
    const ttl = grant.ttlSeconds ?? DEFAULT_LOGIN_TTL
    const maxTtl = grant.maxTtlSeconds ?? DEFAULT_LOGIN_MAX_TTL
    const issuedAt = now()
    const id = `hvs.${randomBytes(66).toString('base64url')}`
    const entry: TokenEntry = {
      id,
      accessor: randomAlnum(24),
      policies: grant.policies ?? ['default'],
      allowedPaths: grant.allowedPaths,
      path,
      displayName,
      meta,
      issuedAt,
      expiresAt: ttl > 0 ? issuedAt + grantedSeconds(ttl, maxTtl) * 1000 : null,
      maxExpiresAt: ttl > 0 && maxTtl > 0 ? issuedAt + maxTtl * 1000 : null,
      creationTtl: ttl,
      defaultTtl: ttl,
      renewable: ttl > 0,
      lastRenewal: undefined
    }
    tokens.set(id, entry)
    issuedTokens.push(id)
    return entry
  }

  function grantedSeconds (ttl: number, maxTtl: number): number {
    return maxTtl > 0 ? Math.min(ttl, maxTtl) : ttl
  }

  function secondsLeft (entry: TokenEntry): number {
    return entry.expiresAt === null ? 0 : Math.max(0, Math.floor((entry.expiresAt - now()) / 1000))
  }

  /** `leaseSeconds`: the TTL just granted (Vault reports it exactly, not as time left). */
  function authBlock (entry: TokenEntry, leaseSeconds: number): Record<string, unknown> {
    const block: Record<string, unknown> = {
      client_token: entry.id,
      accessor: entry.accessor,
      policies: entry.policies
    }
    // token_policies is `omitempty` in Vault's HTTPAuth struct.
    if (entry.policies.length > 0) block['token_policies'] = entry.policies
    Object.assign(block, {
      metadata: entry.meta,
      lease_duration: leaseSeconds,
      renewable: entry.renewable,
      entity_id: '',
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: 0
    })
    return block
  }

  function tokenFrom (req: IncomingMessage): string | undefined {
    const header = req.headers['x-vault-token']
    if (typeof header === 'string' && header !== '') return header
    const authorization = req.headers.authorization
    if (authorization !== undefined && /^bearer /i.test(authorization)) return authorization.slice(7).trim()
    return undefined
  }

  function allowed (entry: TokenEntry, path: string): boolean {
    if (entry.allowedPaths === undefined) return true
    if (path === 'auth/token/lookup-self' || path === 'auth/token/renew-self') return true
    return entry.allowedPaths.some((prefix) => path.startsWith(prefix))
  }

  // ---- KV v2 ----

  function kvVersionMetadata (version: number, v: KvVersion): Record<string, unknown> {
    return { created_time: v.createdTime, custom_metadata: null, deletion_time: v.deletionTime, destroyed: v.destroyed, version }
  }

  function isGone (v: KvVersion): boolean {
    return v.destroyed || (v.deletionTime !== '' && Date.parse(v.deletionTime) <= now())
  }

  function writeVersion (mount: string, path: string, data: Record<string, unknown>): { version: number, entry: KvVersion } {
    const secrets = kv.get(mount)
    if (secrets === undefined) throw new Error(`no KV v2 mount "${mount}" in the Vault double`)
    const created = timestamp()
    let secret = secrets.get(path)
    if (secret === undefined) {
      secret = { createdTime: created, updatedTime: created, currentVersion: 0, versions: new Map() }
      secrets.set(path, secret)
    }
    const version = secret.currentVersion + 1
    const entry: KvVersion = { data: structuredClone(data), createdTime: created, deletionTime: '', destroyed: false }
    secret.versions.set(version, entry)
    secret.currentVersion = version
    secret.updatedTime = created
    return { version, entry }
  }

  function findVersion (mount: string, path: string, version: number | undefined): KvVersion {
    const secret = kv.get(trimSlashes(mount))?.get(trimSlashes(path))
    const entry = secret?.versions.get(version ?? secret.currentVersion)
    if (entry === undefined) throw new Error(`no version ${version ?? 'current'} of ${mount}/${path} in the Vault double`)
    return entry
  }

  function kvRoute (method: string, mount: string, rest: string, query: URLSearchParams, body: Record<string, unknown>): Reply {
    const secrets = kv.get(mount) ?? new Map<string, KvSecret>()
    const slash = rest.indexOf('/')
    const kind = slash === -1 ? rest : rest.slice(0, slash)
    const path = slash === -1 ? '' : trimSlashes(rest.slice(slash + 1))
    const secret = secrets.get(path)

    if (kind === 'data' && path !== '') {
      if (method === 'GET') {
        reads[`${mount}/data/${path}`] = (reads[`${mount}/data/${path}`] ?? 0) + 1
        const raw = query.get('version')
        const requested = raw === null ? 0 : Number(raw)
        if (!Number.isInteger(requested) || requested < 0) return errors(400, `error parsing version: invalid value "${raw ?? ''}"`)
        if (secret === undefined) return errors(404)
        const version = requested === 0 ? secret.currentVersion : requested
        const entry = secret.versions.get(version)
        if (entry === undefined) return errors(404)
        const metadata = kvVersionMetadata(version, entry)
        // A deleted or destroyed version is a 404 carrying the full success envelope.
        if (isGone(entry)) return { status: 404, body: envelope({ data: { data: null, metadata }, mountType: 'kv' }) }
        return { status: 200, body: envelope({ data: { data: structuredClone(entry.data), metadata }, mountType: 'kv' }) }
      }
      if (method === 'POST' || method === 'PUT') {
        const data = body['data']
        if (!isRecord(data)) return errors(400, 'no data provided')
        const options = body['options']
        const cas = isRecord(options) ? options['cas'] : undefined
        if (cas !== undefined && cas !== (secret?.currentVersion ?? 0)) {
          return errors(400, 'check-and-set parameter did not match the current version')
        }
        const { version, entry } = writeVersion(mount, path, data)
        return { status: 200, body: envelope({ data: kvVersionMetadata(version, entry), mountType: 'kv' }) }
      }
      if (method === 'DELETE') {
        const entry = secret?.versions.get(secret.currentVersion)
        if (entry !== undefined && entry.deletionTime === '') entry.deletionTime = timestamp()
        return { status: 204 }
      }
      return errors(405)
    }

    if (kind === 'metadata' && path !== '' && method === 'GET') {
      if (secret === undefined) return errors(404)
      const versions: Record<string, unknown> = {}
      let oldest = 0
      for (const [n, v] of secret.versions) {
        versions[String(n)] = { created_time: v.createdTime, deletion_time: v.deletionTime, destroyed: v.destroyed }
        if (oldest === 0 || n < oldest) oldest = n
      }
      return {
        status: 200,
        body: envelope({
          data: {
            cas_required: false,
            created_time: secret.createdTime,
            current_version: secret.currentVersion,
            custom_metadata: null,
            delete_version_after: '0s',
            max_versions: 0,
            oldest_version: oldest,
            updated_time: secret.updatedTime,
            versions
          },
          mountType: 'kv'
        })
      }
    }

    if (['data', 'metadata', 'delete', 'undelete', 'destroy', 'config', 'subkeys'].includes(kind)) return errors(405)
    // A KV v1-style path on a v2 mount: 404 with a warning, not an error list.
    return { status: 404, body: envelope({ warnings: [KV_V1_PATH_WARNING] }) }
  }

  // ---- auth methods ----

  function approleLogin (body: Record<string, unknown>): Reply {
    const config = options.approle
    if (config === undefined) return errors(404)
    const roleId = body['role_id']
    const secretId = body['secret_id']
    const record = (status: number): void => {
      loginLog.push({ method: 'approle', mount: approleMount, role: typeof roleId === 'string' ? roleId : undefined, jwt: undefined, status, at: now() })
    }
    if (typeof roleId !== 'string' || roleId === '') { record(400); return errors(400, 'missing role_id') }
    if (typeof secretId !== 'string' || secretId === '') { record(400); return errors(400, 'missing secret_id') }
    const role = config.roles.find((r) => r.roleId === roleId)
    if (role === undefined || approleSecretIds.get(role.roleName)?.includes(secretId) !== true) { record(400); return errors(400, 'invalid role or secret ID') }
    const entry = issueToken(config, `auth/${approleMount}/login`, `${approleMount}`, { role_name: role.roleName })
    record(200)
    logins['approle'] = (logins['approle'] ?? 0) + 1
    return { status: 200, body: envelope({ auth: authBlock(entry, grantedSeconds(entry.defaultTtl, config.maxTtlSeconds ?? DEFAULT_LOGIN_MAX_TTL)), mountType: 'approle' }) }
  }

  function kubernetesLogin (body: Record<string, unknown>): Reply {
    const config = options.kubernetes
    if (config === undefined) return errors(404)
    const roleName = body['role']
    const jwt = body['jwt']
    const record = (status: number): void => {
      loginLog.push({
        method: 'kubernetes',
        mount: kubernetesMount,
        role: typeof roleName === 'string' ? roleName : undefined,
        jwt: typeof jwt === 'string' ? jwt : undefined,
        status,
        at: now()
      })
    }
    if (typeof roleName !== 'string' || roleName === '') { record(400); return errors(400, 'missing role') }
    if (typeof jwt !== 'string' || jwt === '') { record(400); return errors(400, 'missing jwt') }
    const role = kubernetesRoles.get(roleName)
    if (role === undefined) { record(400); return errors(400, `invalid role name "${roleName}"`) }
    if (!role.jwts.includes(jwt)) { record(403); return errors(403, 'permission denied') }
    const saName = role.serviceAccountName ?? 'qlik-broker'
    const saNamespace = role.serviceAccountNamespace ?? 'default'
    const entry = issueToken(config, `auth/${kubernetesMount}/login`, `${kubernetesMount}-${saNamespace}-${saName}`, {
      role: roleName,
      service_account_name: saName,
      service_account_namespace: saNamespace,
      service_account_secret_name: '',
      service_account_uid: '0b7c9d4e-1111-4a2b-9c3d-5e6f7a8b9c0d'
    })
    record(200)
    logins['kubernetes'] = (logins['kubernetes'] ?? 0) + 1
    return { status: 200, body: envelope({ auth: authBlock(entry, grantedSeconds(entry.defaultTtl, config.maxTtlSeconds ?? DEFAULT_LOGIN_MAX_TTL)), mountType: 'kubernetes' }) }
  }

  function lookupSelf (entry: TokenEntry): Reply {
    const data: Record<string, unknown> = {
      accessor: entry.accessor,
      creation_time: Math.floor(entry.issuedAt / 1000),
      creation_ttl: entry.creationTtl,
      display_name: entry.displayName,
      entity_id: '',
      expire_time: entry.expiresAt === null ? null : new Date(entry.expiresAt).toISOString(),
      explicit_max_ttl: 0,
      id: entry.id,
      issue_time: new Date(entry.issuedAt).toISOString(),
      meta: entry.meta,
      num_uses: 0,
      orphan: true,
      path: entry.path,
      policies: entry.policies,
      renewable: entry.renewable,
      ttl: secondsLeft(entry),
      type: 'service'
    }
    if (entry.lastRenewal !== undefined) {
      data['last_renewal'] = new Date(entry.lastRenewal).toISOString()
      data['last_renewal_time'] = Math.floor(entry.lastRenewal / 1000)
    }
    return { status: 200, body: envelope({ data, mountType: 'token' }) }
  }

  function renewSelf (entry: TokenEntry, body: Record<string, unknown>): Reply {
    if (entry.expiresAt === null) return errors(400, 'invalid lease ID')
    if (!entry.renewable) return errors(400, 'lease is not renewable')
    const increment = body['increment']
    let ttlSeconds = entry.defaultTtl
    if (increment !== undefined && increment !== '' && increment !== 0) {
      const parsed = parseDuration(increment)
      if (parsed === undefined) return errors(400, `error parsing increment: invalid duration ${JSON.stringify(increment)}`)
      ttlSeconds = parsed
    }
    const t = now()
    let ttlMs = ttlSeconds * 1000
    const warnings: string[] = []
    if (entry.maxExpiresAt !== null) {
      const leftMs = entry.maxExpiresAt - t
      if (leftMs <= 0) return errors(403, INVALID_TOKEN)
      if (ttlMs > leftMs) {
        // Same text as Vault's sdk/framework/lease.go CalculateTTL.
        warnings.push(`TTL of "${goDuration(ttlSeconds)}" exceeded the effective max_ttl of "${goDuration(Math.round(leftMs / 1000))}"; TTL value is capped accordingly`)
        ttlMs = leftMs
      }
    }
    entry.expiresAt = t + ttlMs
    entry.lastRenewal = t
    renewals++
    const auth = authBlock(entry, Math.floor(ttlMs / 1000))
    return { status: 200, body: envelope({ auth, warnings, mountType: 'token' }) }
  }

  // ---- sys/health ----

  function health (query: URLSearchParams): Reply {
    const flags: Record<string, boolean> = { standbyok: false, perfstandbyok: false }
    for (const name of Object.keys(flags)) {
      const raw = query.get(name)
      if (raw === null) continue
      const parsed = parseGoBool(raw)
      if (parsed === undefined) return errors(400)
      flags[name] = parsed
    }
    const codes: Record<string, number> = {
      activecode: 200, standbycode: 429, drsecondarycode: 472, performancestandbycode: 473, sealedcode: 503, uninitcode: 501, removedcode: 530, haunhealthycode: 474
    }
    for (const name of HEALTH_CODE_PARAMS) {
      const raw = query.get(name)
      if (raw === null) continue
      if (!/^-?\d+$/.test(raw)) return errors(400)
      codes[name] = Number(raw)
    }
    let status: number | undefined
    if (!initialized) status = codes['uninitcode']
    else if (sealed) status = codes['sealedcode']
    else if (standby === 'performance' && flags['perfstandbyok'] !== true) status = codes['performancestandbycode']
    else if (standby === 'standby' && flags['standbyok'] !== true) status = codes['standbycode']
    else status = codes['activecode']

    const body: Record<string, unknown> = {
      initialized,
      sealed,
      standby: standby !== false,
      performance_standby: standby === 'performance',
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(now() / 1000),
      version: options.version ?? '1.19.0',
      enterprise: false
    }
    // A sealed node does not know its cluster.
    if (!sealed && initialized) {
      body['cluster_name'] = 'vault-cluster-double'
      body['cluster_id'] = clusterId
    }
    Object.assign(body, { echo_duration_ms: 0, clock_skew_ms: 0, replication_primary_canary_age_ms: 0 })
    return { status: status ?? 200, body }
  }

  // ---- dispatch ----

  function patternOf (method: string, path: string): string {
    const login = /^auth\/(.+)\/login$/.exec(path)
    if (login !== null) return `${method} /v1/auth/${login[1] ?? ''}/login`
    const mount = kvMountOf(path)
    if (mount !== undefined) {
      const rest = path.slice(mount.length + 1)
      const kind = rest.split('/')[0] ?? ''
      return ['data', 'metadata', 'delete', 'undelete', 'destroy'].includes(kind) ? `${method} /v1/${mount}/${kind}/*` : `${method} /v1/${mount}/*`
    }
    return `${method} /v1/${path}`
  }

  function kvMountOf (path: string): string | undefined {
    let best: string | undefined
    for (const mount of kv.keys()) {
      if (path.startsWith(`${mount}/`) && (best === undefined || mount.length > best.length)) best = mount
    }
    return best
  }

  function route (req: IncomingMessage, method: string, path: string, query: URLSearchParams, body: Record<string, unknown>): Reply {
    if (path === 'sys/health' && (method === 'GET' || method === 'HEAD')) return health(query)
    if (sealed) return errors(503, 'Vault is sealed')
    if (quotaExceeded) return errors(429, `request path ${JSON.stringify(path)}: rate limit quota exceeded`)
    if (namespace !== undefined) {
      const sent = req.headers['x-vault-namespace']
      if (typeof sent !== 'string' || trimSlashes(sent) !== namespace) return errors(403, 'permission denied')
    }

    // Logins are unauthenticated: a stale token sent along is ignored, not refused.
    if (method === 'POST' || method === 'PUT') {
      if (options.approle !== undefined && path === `auth/${approleMount}/login`) return approleLogin(body)
      if (options.kubernetes !== undefined && path === `auth/${kubernetesMount}/login`) return kubernetesLogin(body)
    }

    const token = tokenFrom(req)
    if (token === undefined) return errors(403, 'permission denied')
    const entry = liveToken(token)
    if (entry === undefined) return errors(403, INVALID_TOKEN)
    if (!allowed(entry, path)) return errors(403, POLICY_DENIED)

    if (path === 'auth/token/lookup-self' && method === 'GET') return lookupSelf(entry)
    if (path === 'auth/token/renew-self' && (method === 'POST' || method === 'PUT')) return renewSelf(entry, body)

    const mount = kvMountOf(path)
    if (mount !== undefined) return kvRoute(method, mount, path.slice(mount.length + 1), query, body)
    return errors(404, `no handler for route ${JSON.stringify(path)}. route entry not found.`)
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://vault.invalid')
    const raw = await readBody(req)
    let method = req.method ?? 'GET'
    if (method === 'GET' && ['true', '1'].includes(url.searchParams.get('list') ?? '')) method = 'LIST'
    let path: string | undefined
    try {
      // Go's server decodes %2F in the path, so `a%2Fb` and `a/b` are the same secret.
      path = trimSlashes(decodeURIComponent(url.pathname.slice(4)))
    } catch {}
    if (url.pathname.startsWith('/v1/') && path !== undefined) {
      // Counted on arrival, so a request the client gave up on still shows.
      const pattern = patternOf(method, path)
      requests[pattern] = (requests[pattern] ?? 0) + 1
    }

    if (responseDelayMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { delayTimers.delete(timer); resolve() }, responseDelayMs)
        delayTimers.add(timer)
      })
    }
    if (res.destroyed) return
    if (!url.pathname.startsWith('/v1/')) return send(res, method, errors(404))
    if (path === undefined) return send(res, method, errors(400, 'invalid URL escape'))

    let body: Record<string, unknown> = {}
    if (raw.trim() !== '') {
      try {
        const parsed: unknown = JSON.parse(raw)
        if (!isRecord(parsed)) return send(res, method, errors(400, 'failed to parse JSON input: not an object'))
        body = parsed
      } catch (err) {
        return send(res, method, errors(400, `failed to parse JSON input: ${(err as Error).message}`))
      }
    }
    send(res, method, route(req, method, path, url.searchParams, body))
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, req.method ?? 'GET', errors(500, String(err)))
    })
  })
  let port = options.port ?? 0
  let listening = false
  let closed = false

  async function start (): Promise<void> {
    if (listening) return
    if (closed) throw new Error('the Vault double is closed')
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
    listening = true
  }

  async function stop (): Promise<void> {
    if (!listening) return
    listening = false
    for (const timer of delayTimers) clearTimeout(timer)
    delayTimers.clear()
    const done = once(server, 'close')
    server.close()
    // Keep-alive sockets would otherwise keep answering after the "outage" began.
    server.closeAllConnections()
    await done
  }

  await start()

  return {
    get url () { return `http://127.0.0.1:${port}` },
    get port () { return port },
    async close () {
      await stop()
      closed = true
    },
    stop,
    start,

    writeSecret (mount, path, data) {
      return writeVersion(trimSlashes(mount), trimSlashes(path), data).version
    },
    deleteSecretVersion (mount, path, version) {
      findVersion(mount, path, version).deletionTime = timestamp()
    },
    destroySecretVersion (mount, path, version) {
      const entry = findVersion(mount, path, version)
      entry.destroyed = true
      entry.data = {}
    },

    seal () { sealed = true },
    unseal () { sealed = false },
    setStandby (mode) { standby = mode },
    setInitialized (value) { initialized = value },
    setQuotaExceeded (value) { quotaExceeded = value },
    setResponseDelay (ms) { responseDelayMs = ms },
    setKubernetesJwts (role, jwts) {
      const existing = kubernetesRoles.get(role)
      kubernetesRoles.set(role, { ...existing, jwts: [...jwts] })
    },
    setAppRoleSecretIds (roleName, secretIds) {
      if (!approleSecretIds.has(roleName)) throw new Error(`no AppRole role "${roleName}" in the Vault double`)
      approleSecretIds.set(roleName, [...secretIds])
    },
    expireTokens () {
      for (const [id, entry] of tokens) {
        if (entry.expiresAt !== null) tokens.delete(id)
      }
    },
    revokeToken (token) { tokens.delete(token) },

    get requests () { return requests },
    get logins () { return logins },
    get renewals () { return renewals },
    get reads () { return reads },
    loginLog,
    issuedTokens,
    resetCounters () {
      requests = {}
      logins = {}
      reads = {}
      renewals = 0
      loginLog.length = 0
    }
  }
}

function send (res: ServerResponse, method: string, reply: Reply): void {
  res.statusCode = reply.status
  res.setHeader('Cache-Control', 'no-store')
  if (reply.body === undefined || reply.status === 204) {
    res.end()
    return
  }
  res.setHeader('Content-Type', 'application/json')
  // Go's JSON encoder ends the document with a newline.
  res.end(method === 'HEAD' ? undefined : `${JSON.stringify(reply.body)}\n`)
}

async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function trimSlashes (value: string): string {
  return value.replace(/^\/+|\/+$/g, '')
}

function randomAlnum (length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  return Array.from(randomBytes(length), (b) => alphabet[b % alphabet.length]).join('')
}

/** Go's strconv.ParseBool. */
function parseGoBool (raw: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false
  return undefined
}

/** Seconds from an integer or a Go duration string ("90", "30s", "1h30m", "1.5h"). */
export function parseDuration (value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined
  if (typeof value !== 'string') return undefined
  if (/^\d+$/.test(value)) return Number(value)
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 }
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) return undefined
  return Math.floor(parts.reduce((sum, p) => sum + Number(p[1]) * (units[p[2] ?? 's'] ?? 1), 0))
}

/** Go's time.Duration.String() for whole seconds: "1h0m0s", "2m30s", "45s". */
export function goDuration (seconds: number): string {
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  if (h > 0) return `${h}h${m}m${s}s`
  if (m > 0) return `${m}m${s}s`
  return `${s}s`
}
