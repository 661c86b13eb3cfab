import { seal } from './sealed.js'
import { SecretsUnavailableError } from './secrets-source.js'
import type { RegionCredentials, SecretsSource, SecretsSourceStatus } from './secrets-source.js'
import { createVaultTokenKeeper } from './vault-auth.js'
import type { VaultAuthOptions, VaultLogger } from './vault-auth.js'
import { createVaultClient } from './vault-client.js'
import type { VaultClient } from './vault-client.js'
import { NOT_TRANSPORT, VaultLoginError, VaultRequestError, describeVaultError, isVaultUnreachable } from './vault-errors.js'

export type { VaultAuthOptions, VaultLogger } from './vault-auth.js'

export interface VaultSecretsSourceOptions {
  /** e.g. `https://vault.example:8200` */
  address: string
  /** Enterprise/HCP namespace, sent as `X-Vault-Namespace`. */
  namespace?: string
  /** KV v2 mount, default `secret`. */
  kvMount?: string
  /** Region → KV v2 path inside the mount, e.g. `{ eu: { path: 'qlik/eu' } }`. */
  regions: Record<string, { path: string }>
  auth: VaultAuthOptions
  /** Per request; node-vault has no default timeout. */
  requestTimeoutMs: number
  /** CA bundle (PEM) for a Vault served with a private CA. */
  caCertPem?: string
  logger: VaultLogger
  now?: () => number
  /** How often a token or secret_id file (`auth.tokenFile`, `auth.secretIdFile`) is checked for new content; default 5 s. */
  credentialFileCheckIntervalMs?: number
  /** Every call to Vault and its outcome, for metrics. Never carries a token, path value or secret. */
  onEvent?: (event: VaultEvent) => void
}

export interface VaultEvent {
  operation: 'login' | 'read' | 'metadata' | 'renew' | 'lookup'
  outcome: 'ok' | 'error'
}

export interface VaultStartResult {
  loadedRegions: string[]
  /** Region → why its credentials could not be read. */
  failedRegions: Record<string, string>
}

export interface VaultSecretsSource extends SecretsSource {
  /**
   * Optional warm-up: logs in and reads every region. Never throws for a
   * region; what failed is in the result. Without it, the first `get()`
   * logs in and reads lazily.
   */
  start (): Promise<VaultStartResult>
  /** The region's current KV v2 version from `metadata/` (cheap: no secret is read). */
  currentVersion (region: string): Promise<string>
}

const SAFE_MOUNT = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/

/**
 * Regional client credentials from Vault KV v2 (fields `client_id` and
 * `client_secret`), held in memory and served from there while Vault is away.
 * @see docs/reference/vault-api.md §2.1 for the read, §3 for the auth flows.
 */
export function createVaultSecretsSource (options: VaultSecretsSourceOptions): VaultSecretsSource {
  const { kvMount, regions } = validate(options)
  const logger = options.logger
  const client: VaultClient = observed(createVaultClient({
    address: options.address,
    requestTimeoutMs: options.requestTimeoutMs,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(options.caCertPem === undefined ? {} : { caCertPem: options.caCertPem })
  }), `${kvMount}/metadata/`, options.onEvent)
  const keeper = createVaultTokenKeeper({
    client,
    auth: options.auth,
    logger,
    now: options.now ?? Date.now,
    ...(options.credentialFileCheckIntervalMs === undefined ? {} : { fileCheckIntervalMs: options.credentialFileCheckIntervalMs })
  })

  const memory = new Map<string, RegionCredentials>()
  const inFlight = new Map<string, Promise<RegionCredentials>>()
  let reachable = false
  let lastError: string | undefined
  let closed = false

  /**
   * Runs a call with the current token. On 403 a login-based method logs in
   * again, and a token file is read again; either retries once.
   */
  async function withToken<T> (call: (token: string) => Promise<T>): Promise<T> {
    const token = await keeper.token()
    try {
      return await call(token)
    } catch (err) {
      if (!(err instanceof VaultRequestError) || err.status !== 403 || !await keeper.refused(token)) throw err
      logger.info({ method: options.auth.method }, 'Vault refused the token; logging in again and retrying once')
      return await call(await keeper.token())
    }
  }

  function regionPath (region: string): string {
    const path = Object.hasOwn(regions, region) ? regions[region] : undefined
    if (path === undefined) throw new SecretsUnavailableError(region, 'not a configured region')
    return path
  }

  function fail (region: string, logical: string, err: unknown): SecretsUnavailableError {
    const error = err instanceof SecretsUnavailableError
      ? err
      : new SecretsUnavailableError(region, reasonFor(logical, err), { cause: safeCause(err) })
    const answered = vaultAnswered(err)
    if (answered !== undefined) reachable = answered
    lastError = error.message
    logger.warn({ region, reason: error.message }, 'cannot read region credentials from Vault')
    return error
  }

  function succeeded (): void {
    reachable = true
    lastError = undefined
  }

  async function readRegion (region: string): Promise<RegionCredentials> {
    const logical = `${kvMount}/data/${regionPath(region)}`
    try {
      const data = await withToken((token) => client.read(logical, token))
      succeeded()
      return parseCredentials(region, logical, data)
    } catch (err) {
      throw fail(region, logical, err)
    }
  }

  /** One read per region at a time: concurrent callers share it. */
  function load (region: string): Promise<RegionCredentials> {
    const pending = inFlight.get(region)
    if (pending !== undefined) return pending
    const read = readRegion(region)
      .then((credentials) => {
        const previous = memory.get(region)
        if (!closed) memory.set(region, credentials)
        if (previous === undefined) {
          logger.info({ region, version: credentials.version }, 'read region credentials from Vault')
        } else if (previous.version !== credentials.version) {
          logger.info({ region, version: credentials.version, previousVersion: previous.version }, 'region credentials changed in Vault')
        }
        return credentials
      })
      .finally(() => inFlight.delete(region))
    inFlight.set(region, read)
    return read
  }

  function ensureOpen (region: string): void {
    if (closed) throw new SecretsUnavailableError(region, 'the Vault secrets source is closed')
  }

  return {
    kind: 'vault',

    async get (region) {
      ensureOpen(region)
      regionPath(region)
      return memory.get(region) ?? await load(region)
    },

    held (region) {
      // What get() answers without reading; a closed source or an unknown region is left to get() to refuse.
      return closed ? undefined : memory.get(region)
    },

    async refresh (region) {
      ensureOpen(region)
      regionPath(region)
      return await load(region)
    },

    async currentVersion (region) {
      ensureOpen(region)
      const logical = `${kvMount}/metadata/${regionPath(region)}`
      try {
        const data = await withToken((token) => client.read(logical, token))
        succeeded()
        const version = isRecord(data) ? data['current_version'] : undefined
        if (typeof version !== 'number') throw new SecretsUnavailableError(region, `no current_version in ${logical}`)
        return String(version)
      } catch (err) {
        throw fail(region, logical, err)
      }
    },

    async start () {
      const result: VaultStartResult = { loadedRegions: [], failedRegions: {} }
      try {
        await keeper.start()
      } catch (err) {
        const reason = describeVaultError(err)
        const answered = vaultAnswered(err)
        if (answered !== undefined) reachable = answered
        lastError = reason
        logger.warn({ reason }, 'cannot log in to Vault')
        for (const region of Object.keys(regions)) result.failedRegions[region] = reason
        return result
      }
      await Promise.all(Object.keys(regions).map(async (region) => {
        try {
          await load(region)
          result.loadedRegions.push(region)
        } catch (err) {
          result.failedRegions[region] = err instanceof Error ? err.message : String(err)
        }
      }))
      result.loadedRegions.sort()
      return result
    },

    status (): SecretsSourceStatus {
      return {
        kind: 'vault',
        reachable,
        loadedRegions: [...memory.keys()].sort(),
        ...(lastError === undefined ? {} : { lastError })
      }
    },

    async close () {
      closed = true
      keeper.close()
      memory.clear()
    }
  }
}

/** Reports each client call (logins included: the token keeper uses this client) to `onEvent`. */
function observed (client: VaultClient, metadataPrefix: string, onEvent: ((event: VaultEvent) => void) | undefined): VaultClient {
  if (onEvent === undefined) return client
  async function report<T> (operation: VaultEvent['operation'], call: Promise<T>): Promise<T> {
    try {
      const result = await call
      onEvent?.({ operation, outcome: 'ok' })
      return result
    } catch (err) {
      onEvent?.({ operation, outcome: 'error' })
      throw err
    }
  }
  return {
    read: (path, token) => report(path.startsWith(metadataPrefix) ? 'metadata' : 'read', client.read(path, token)),
    approleLogin: (input) => report('login', client.approleLogin(input)),
    kubernetesLogin: (input) => report('login', client.kubernetesLogin(input)),
    renewSelf: (token) => report('renew', client.renewSelf(token)),
    lookupSelf: (token) => report('lookup', client.lookupSelf(token))
  }
}

function reasonFor (logical: string, err: unknown): string {
  if (err instanceof VaultRequestError) {
    if (err.status === 404) {
      const metadata = isRecord(err.data) ? err.data['metadata'] : undefined
      if (isRecord(metadata) && typeof metadata['version'] === 'number') {
        const state = metadata['destroyed'] === true ? 'destroyed' : 'deleted'
        return `version ${metadata['version']} at ${logical} is ${state}`
      }
      return `no secret at ${logical}`
    }
    if (err.status === 403) return `permission denied reading ${logical}`
  }
  return describeVaultError(err)
}

/** Whether Vault answered usefully; undefined when the failure says nothing about Vault (a local file, a bad reply). */
function vaultAnswered (err: unknown): boolean | undefined {
  const request = err instanceof VaultLoginError ? err.cause : err
  if (request instanceof VaultRequestError && !NOT_TRANSPORT.has(request.code ?? '')) return !isVaultUnreachable(request)
  return undefined
}

/** Only our own scrubbed errors travel as a cause; anything else could carry a request config. */
function safeCause (err: unknown): Error | undefined {
  return err instanceof VaultRequestError || err instanceof VaultLoginError ? err : undefined
}

function parseCredentials (region: string, logical: string, data: unknown): RegionCredentials {
  const fields = isRecord(data) ? data['data'] : undefined
  if (!isRecord(fields)) throw new SecretsUnavailableError(region, `no KV v2 secret data at ${logical}`)
  const clientId = fields['client_id']
  const clientSecret = fields['client_secret']
  // Name the field, never the value.
  if (typeof clientId !== 'string' || clientId.trim() === '') {
    throw new SecretsUnavailableError(region, `field "client_id" is missing or empty at ${logical}`)
  }
  if (typeof clientSecret !== 'string' || clientSecret === '') {
    throw new SecretsUnavailableError(region, `field "client_secret" is missing or empty at ${logical}`)
  }
  const metadata = isRecord(data) ? data['metadata'] : undefined
  const version = isRecord(metadata) ? metadata['version'] : undefined
  if (typeof version !== 'number') {
    throw new SecretsUnavailableError(region, `no version metadata at ${logical} (is it a KV v2 mount?)`)
  }
  return { region, clientId: clientId.trim(), clientSecret: seal(clientSecret), version: String(version) }
}

function validate (options: VaultSecretsSourceOptions): { kvMount: string, regions: Record<string, string> } {
  let url: URL
  try {
    url = new URL(options.address)
  } catch {
    throw new Error('vault address must be an http(s) URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('vault address must be an http(s) URL')
  if (!Number.isFinite(options.requestTimeoutMs) || options.requestTimeoutMs <= 0) {
    throw new Error('vault requestTimeoutMs must be a positive number')
  }
  const fileCheck = options.credentialFileCheckIntervalMs
  if (fileCheck !== undefined && (!Number.isFinite(fileCheck) || fileCheck <= 0)) {
    throw new Error('vault credentialFileCheckIntervalMs must be a positive number')
  }
  const kvMount = trimSlashes(options.kvMount ?? 'secret')
  if (!SAFE_MOUNT.test(kvMount)) throw new Error(`vault kvMount "${kvMount}" is not a valid mount path`)

  const auth = options.auth
  // Values are checked for presence only, and never echoed.
  const required: Array<[string, string]> = auth.method === 'token'
    ? ['tokenFile' in auth ? ['tokenFile', auth.tokenFile] : ['token', auth.token]]
    : auth.method === 'approle'
      ? [['mount', auth.mount], ['roleId', auth.roleId], 'secretIdFile' in auth ? ['secretIdFile', auth.secretIdFile] : ['secretId', auth.secretId]]
      : [['mount', auth.mount], ['role', auth.role], ['jwtPath', auth.jwtPath]]
  for (const [name, value] of required) {
    if (typeof value !== 'string' || value.trim() === '') throw new Error(`vault auth.${name} must be a non-empty string`)
  }
  // node-vault renders login paths through mustache, which mangles unusual characters.
  if (auth.method !== 'token' && !SAFE_MOUNT.test(auth.mount)) {
    throw new Error(`vault auth.mount "${auth.mount}" is not a valid mount path`)
  }

  const regions: Record<string, string> = {}
  for (const [region, { path }] of Object.entries(options.regions)) {
    const trimmed = typeof path === 'string' ? trimSlashes(path.trim()) : ''
    if (trimmed === '') throw new Error(`vault path for region "${region}" must be a non-empty string`)
    regions[region] = trimmed
  }
  if (Object.keys(regions).length === 0) throw new Error('vault regions must name at least one region')
  return { kvMount, regions }
}

function trimSlashes (value: string): string {
  return value.replace(/^\/+|\/+$/g, '')
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
