import { z } from 'zod'
import { IssuerSchema, jwtCallerFields, jwtConfigProblems } from '../auth/jwt-config.js'
import { parseRedisNodes } from '../redis/redis-topology.js'

/** Numbers from the environment: a blank value is an error, not 0. */
const envNumber = (schema: z.ZodNumber): z.ZodType<number> => z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? Number.NaN : value), z.coerce.number().pipe(schema)) as unknown as z.ZodType<number>
const port = envNumber(z.number().int().min(0).max(65535))
const positiveInt = envNumber(z.number().int().positive())
const nonNegativeInt = envNumber(z.number().int().min(0))
const flag = z.stringbool()

/**
 * Requests the broker works on at once; more are answered 503 QB_OVERLOADED
 * at once. Each one holds its request, Qlik's answer (up to 64 KiB read
 * whole) and its log lines until it ends: at the chart's 256 MiB limit this
 * many kept the broker's peak RSS near 150 MiB under 1,000 connections
 * (docs/benchmarks.md, "Memory under 1,000 active connections").
 */
export const DEFAULT_MAX_IN_FLIGHT_REQUESTS = 128
/** Caller connections held open at once; past it the kernel's accepted connection is closed at once (no HTTP answer is possible before reading a request). */
export const DEFAULT_MAX_CONNECTIONS = 4096

const UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const
/** `requests/window`, e.g. `100/60s`. */
const rateLimit = z.string()
  .regex(/^\d+\/\d+(ms|s|m)$/, 'requests per window, e.g. 100/60s')
  .transform((text) => {
    const [, requests = '0', amount = '0', unit = 's'] = /^(\d+)\/(\d+)(ms|s|m)$/.exec(text) ?? []
    return { requests: Number(requests), windowMs: Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS] }
  })
  .refine((limit) => limit.requests >= 1 && limit.windowMs >= 1, 'at least 1 request per window of at least 1 ms')

/** `host:port` or `redis[s]://host:port`, comma-separated, at least one. */
const redisNodeList = z.string().transform((list, context) => {
  const { nodes, tls, invalid } = parseRedisNodes(list)
  if (invalid.length > 0) context.addIssue({ code: 'custom', message: `not host:port or redis[s]://host:port: ${invalid.join(', ')}` })
  else if (nodes.length === 0) context.addIssue({ code: 'custom', message: 'at least one host:port' })
  return { nodes, tls }
})

/**
 * Qlik endpoints with a limit of their own (special tiers), as JSON:
 * `[{"name":"reloads","method":"POST","path":"/api/v1/reloads","limit":"50/60s"}]`.
 */
const rateBuckets = z.string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown
    } catch {
      ctx.addIssue({ code: 'custom', message: 'a JSON array of {name, method, path, limit}' })
      return z.NEVER
    }
  })
  .pipe(z.array(z.strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'lowercase letters, digits and dashes').refine((name) => name !== 'tier1' && name !== 'tier2', 'tier1 and tier2 are the tiers; a special bucket needs a name of its own'),
    method: z.string().regex(/^(\*|[A-Z]+)$/, 'an HTTP method in capitals, or *'),
    path: z.string().regex(/^\/[^\s?#]*$/, 'a path starting with /, without query'),
    limit: rateLimit
  })))
  .superRefine((rules, ctx) => {
    const limits = new Map<string, string>()
    for (const rule of rules) {
      const limit = `${rule.limit.requests}/${rule.limit.windowMs}`
      if ((limits.get(rule.name) ?? limit) !== limit) ctx.addIssue({ code: 'custom', message: `bucket "${rule.name}" is given two different limits` })
      limits.set(rule.name, limit)
    }
  })

export const DEFAULT_REGIONS = ['us', 'eu', 'de', 'uk', 'sg', 'ap', 'jp'] as const

export const TENANT_ACTIONS = [
  'tenants:create',
  'tenants:read',
  'tenants:update',
  'tenants:deactivate',
  'tenants:reactivate'
] as const
export type TenantAction = typeof TENANT_ACTIONS[number]

/** Actions on the broker's own data, granted like the tenant actions. */
export const BROKER_ACTIONS = ['audit:read'] as const
/** Bot-user migration after a regional client is recreated (issue 11): read (plan, job state) and migrate (apply, cancel). */
export const BOT_USER_ACTIONS = ['bot-users:read', 'bot-users:migrate'] as const
export const ACTIONS = [...TENANT_ACTIONS, ...BROKER_ACTIONS, ...BOT_USER_ACTIONS] as const
export type Action = typeof ACTIONS[number]

const regionCode = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'a region code is lowercase letters, digits or dashes')
const hostname = z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/, 'a lowercase DNS name')
/** `scheme://host[:port]` and nothing else: no path, query, fragment or credentials. */
const origin = z.string().refine((value) => {
  if (!URL.canParse(value)) return false
  const url = new URL(value)
  return /^https?:$/.test(url.protocol) && url.origin === value.replace(/\/$/, '')
}, 'an http(s) origin: scheme, host and optional port, nothing else')

export const RegionSchema = z.strictObject({
  code: regionCode,
  registerHost: hostname.optional(),
  tenantDomain: hostname.optional(),
  secretPath: z.string().min(1).optional(),
  upstreamOrigin: origin.optional()
})

/** `METHOD /path/pattern`, e.g. `GET /api/v1/users/**` or `* /api/v1/spaces/*`. */
export const TenantApiGrantSchema = z.string().regex(
  /^(\*|GET|HEAD|POST|PUT|PATCH|DELETE)(\|(GET|HEAD|POST|PUT|PATCH|DELETE))* \/api\/v1(\/[A-Za-z0-9._~*{}:@!$&'()+,;=-]+)*\/?$/,
  'a tenant-api grant is "METHOD /api/v1/path" (methods joined by |, or *); * matches one segment, ** any number'
)

export const GrantSchema = z.strictObject({
  regions: z.union([z.literal('*'), z.array(regionCode).min(1)]),
  actions: z.array(z.enum(ACTIONS)).default([]),
  tenantApi: z.array(TenantApiGrantSchema).default([]),
  /** '*', a list of tenant ids and hostnames, or 'created': the tenants this caller created through the broker (its tenant registry). */
  tenants: z.union([z.literal('*'), z.literal('created'), z.array(z.string().min(1)).min(1)]).default('*')
}).refine((grant) => grant.actions.length > 0 || grant.tenantApi.length > 0, 'a grant needs at least one of `actions` or `tenantApi`')

export const API_KEY_HASH_PATTERN = /^sha256:[0-9a-f]{64}$/

export const CallerSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a caller name is lowercase letters, digits, dots, dashes or underscores'),
  apiKeyHashes: z.array(z.string().regex(API_KEY_HASH_PATTERN, 'an API key hash is "sha256:" and 64 hex digits (see `qlik-broker create-api-key`)')).default([]),
  /** JWT callers: `subjects` (`<issuer name>:<sub>`) and `claims` rules, see src/auth/jwt-config.ts. */
  ...jwtCallerFields,
  grants: z.array(GrantSchema).default([]),
  /** Overrides CALLER_QUOTA for this caller, e.g. `1200/60s`. */
  quota: rateLimit.optional()
})

const VaultSchema = z.object({
  address: origin.default('http://127.0.0.1:8200'),
  namespace: z.string().min(1).optional(),
  kvMount: z.string().min(1).default('secret'),
  pathTemplate: z.string().min(1).default('qlik/regions/{region}'),
  authMethod: z.enum(['token', 'approle', 'kubernetes']).default('kubernetes'),
  token: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  approleMount: z.string().min(1).default('approle'),
  roleId: z.string().min(1).optional(),
  secretId: z.string().min(1).optional(),
  secretIdFile: z.string().min(1).optional(),
  kubernetesMount: z.string().min(1).default('kubernetes'),
  kubernetesRole: z.string().min(1).optional(),
  kubernetesTokenPath: z.string().min(1).default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
  timeoutMs: positiveInt.default(5000),
  caFile: z.string().min(1).optional()
})

export const ConfigSchema = z.object({
  configFile: z.string().min(1).optional(),
  server: z.object({
    host: z.string().min(1).default('0.0.0.0'),
    port: port.default(8080),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    bodyLimitBytes: positiveInt.default(1_048_576),
    requestTimeoutMs: positiveInt.default(60_000),
    keepAliveTimeoutMs: positiveInt.default(72_000),
    shutdownGraceMs: positiveInt.default(10_000),
    docsEnabled: flag.default(true),
    maxInFlightRequests: positiveInt.default(DEFAULT_MAX_IN_FLIGHT_REQUESTS),
    maxInFlightBodyBytes: positiveInt.default(16 * 1024 * 1024),
    maxConnections: envNumber(z.number().int().min(0)).default(DEFAULT_MAX_CONNECTIONS),
    logBufferBytes: positiveInt.default(4 * 1024 * 1024),
    readyRegions: z.string().default('').transform((list) => list.split(',').map((code) => code.trim()).filter(Boolean)).pipe(z.array(regionCode))
  }).prefault({}),
  secrets: z.object({
    source: z.enum(['file', 'vault']).default('file'),
    dir: z.string().min(1).default('./secrets'),
    checkIntervalSeconds: positiveInt.default(60),
    vault: VaultSchema.prefault({})
  }).prefault({}),
  cache: z.object({
    redisUrl: z.url({ protocol: /^rediss?$/ }).optional(),
    redisSentinels: redisNodeList.optional(),
    redisSentinelMasterName: z.string().min(1).optional(),
    redisSentinelPassword: z.string().min(1).optional(),
    redisClusterNodes: redisNodeList.optional(),
    redisUsername: z.string().min(1).optional(),
    redisPassword: z.string().min(1).optional(),
    redisTls: flag.default(false),
    redisTlsCaFile: z.string().min(1).optional(),
    keyPrefix: z.string().min(1).default('qlik-broker:'),
    encryptionKeys: z.string().min(1).optional(),
    encryptionKeysFile: z.string().min(1).optional(),
    expiryMarginSeconds: envNumber(z.number().int().min(0)).default(300),
    refreshWindow: z.string()
      .regex(/^0?\.\d+-0?\.\d+$/, 'two fractions of a token\'s lifetime, e.g. 0.6-0.8')
      .transform((window) => { const [from = 0, to = 0] = window.split('-').map(Number); return { from, to } })
      .refine((window) => window.from > 0 && window.from <= window.to && window.to < 1, 'from must be above 0, at most to, and to below 1')
      .default({ from: 0.6, to: 0.8 }),
    mintLeaseMs: positiveInt.default(5_000)
  }).prefault({}),
  qlik: z.object({
    domain: hostname.default('qlikcloud.com'),
    regions: z.string().default(DEFAULT_REGIONS.join(',')).transform((list) => list.split(',').map((code) => code.trim()).filter(Boolean)).pipe(z.array(regionCode).min(1)),
    upstreamOrigin: origin.optional(),
    /** GET/PATCH of a tenant: Qlik documents them on the tenant's own host only (docs/reference/qlik-cloud-api.md §11). */
    tenantReadsVia: z.enum(['register', 'tenant']).default('tenant'),
    /** How a tenant id is turned into its host: the broker's registry, then (unconfirmed) the register host. */
    tenantHostLookup: z.enum(['registry,register', 'registry']).default('registry,register'),
    timeoutMs: positiveInt.default(30_000),
    connectTimeoutMs: positiveInt.default(5_000),
    tokenScope: z.string().min(1).optional(),
    // Qlik counts Tier 1 and Tier 2 over 5 minutes (docs/reference/qlik-cloud-api.md §5, §11).
    tier1Limit: rateLimit.default({ requests: 5000, windowMs: 300_000 }),
    tier2Limit: rateLimit.default({ requests: 500, windowMs: 300_000 }),
    rateBuckets: rateBuckets.optional(),
    budgetSkewMs: envNumber(z.number().int().min(0).max(60_000)).default(1_000),
    budgetHeadroomPct: envNumber(z.number().min(0).max(50)).default(2),
    budgetMaxWaitMs: envNumber(z.number().int().min(0)).default(10_000),
    retryMaxAttempts: envNumber(z.number().int().min(1).max(20)).default(4),
    breakerFailures: positiveInt.default(5),
    breakerCooldownMs: positiveInt.default(30_000)
  }).prefault({}),
  /** OpenTelemetry tracing: on when an OTLP endpoint is set and the SDK is not disabled (src/observability/tracing.ts). */
  tracing: z.object({
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    tracesEndpoint: z.url({ protocol: /^https?$/ }).optional(),
    sdkDisabled: flag.default(false),
    serviceName: z.string().min(1).default('qlik-broker')
  }).prefault({}),
  /** Idempotency keys, tenant registry, audit trail and policy reload. */
  governance: z.object({
    idempotencyRetentionSeconds: positiveInt.default(86_400),
    /** In-process store (no Redis): most records kept, oldest settled out first. */
    idempotencyMemoryMaxEntries: positiveInt.default(10_000),
    /** In-process store (no Redis): most bytes of records kept, oldest settled out first. */
    idempotencyMemoryMaxBytes: positiveInt.default(64 * 1024 * 1024),
    /** Redis: most Idempotency-Keys one caller may take per retention window; past it, 429 without acting. */
    idempotencyMaxKeysPerCaller: positiveInt.default(10_000),
    /** Redis: most bytes of stored answers one caller may keep per retention window; past it, answers are kept without their body. */
    idempotencyMaxBytesPerCaller: positiveInt.default(64 * 1024 * 1024),
    auditStreamMaxLen: positiveInt.default(100_000),
    /** With Redis: how long a registry answer may be reused in process (cached-tenant-registry.ts); 0 reads Redis every time. */
    registryCacheSeconds: nonNegativeInt.default(5),
    configCheckIntervalSeconds: positiveInt.default(30)
  }).prefault({}),
  /** Bot-user migration jobs (src/bot-users). */
  botUsers: z.object({
    /** The share of each tenant's Tier 2 budget a migration job may take; normal traffic keeps the rest. */
    budgetFraction: envNumber(z.number().gt(0).max(1)).default(0.5),
    /** A job's lease in Redis: a replica that stops renewing it (crash) hands the job to another after this long. */
    leaseSeconds: positiveInt.default(15)
  }).prefault({}),
  /** From the config file; when absent, derived from `qlik.regions`. */
  regions: z.array(RegionSchema).optional(),
  /** From the config file: trusted JWT issuers. */
  issuers: z.array(IssuerSchema).default([]),
  callers: z.array(CallerSchema).default([]),
  quota: z.object({
    default: rateLimit.default({ requests: 600, windowMs: 60_000 })
  }).prefault({})
})

export interface ConfigProblem { path: Array<string | number>, message: string }

type Loose = Record<string, unknown> | undefined
const asObject = (value: unknown): Loose => (typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined)
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])

/**
 * Rules that span fields. Runs on the parsed configuration, or on the raw
 * input when parsing failed, so every problem is reported in one go; hence
 * the defensive reads.
 */
export function crossFieldProblems (config: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const root = asObject(config)
  const secrets = asObject(root?.secrets)
  const vault = asObject(secrets?.vault) ?? {}
  const has = (key: string): boolean => vault[key] !== undefined
  if (secrets?.source === 'vault') {
    const need = (ok: boolean, key: string, message: string): void => {
      if (!ok) problems.push({ path: ['secrets', 'vault', key], message })
    }
    const method = vault.authMethod ?? 'kubernetes'
    if (method === 'token') need(has('token') || has('tokenFile'), 'token', 'VAULT_TOKEN or VAULT_TOKEN_FILE is required with VAULT_AUTH_METHOD=token')
    if (method === 'approle') {
      need(has('roleId'), 'roleId', 'VAULT_ROLE_ID is required with VAULT_AUTH_METHOD=approle')
      need(has('secretId') || has('secretIdFile'), 'secretId', 'VAULT_SECRET_ID or VAULT_SECRET_ID_FILE is required with VAULT_AUTH_METHOD=approle')
    }
    if (method === 'kubernetes') need(has('kubernetesRole'), 'kubernetesRole', 'VAULT_K8S_ROLE is required with VAULT_AUTH_METHOD=kubernetes')
  }
  const cache = asObject(root?.cache)
  problems.push(...redisProblems(cache))

  const fromFile = Array.isArray(root?.regions)
  const qlikRegions = asObject(root?.qlik)?.regions
  const regionCodes = fromFile
    ? asArray(root?.regions).map((region) => asObject(region)?.code)
    : (typeof qlikRegions === 'string' ? qlikRegions.split(',').map((code) => code.trim()) : (qlikRegions === undefined ? [...DEFAULT_REGIONS] : asArray(qlikRegions)))
  const seen = new Set<unknown>()
  regionCodes.forEach((code, index) => {
    if (seen.has(code)) problems.push({ path: fromFile ? ['regions', index, 'code'] : ['qlik', 'regions'], message: `region "${String(code)}" is listed twice` })
    seen.add(code)
  })

  const server = asObject(root?.server)
  const bodyLimit = Number(server?.bodyLimitBytes ?? 1_048_576)
  const inFlightBody = Number(server?.maxInFlightBodyBytes ?? 16 * 1024 * 1024)
  if (Number.isFinite(bodyLimit) && Number.isFinite(inFlightBody) && inFlightBody < bodyLimit) {
    problems.push({ path: ['server', 'maxInFlightBodyBytes'], message: `${inFlightBody} is less than BROKER_BODY_LIMIT_BYTES (${bodyLimit}): a request of the largest accepted size could never be taken` })
  }

  const readyRegions = server?.readyRegions
  const required = typeof readyRegions === 'string' ? readyRegions.split(',').map((code) => code.trim()).filter(Boolean) : asArray(readyRegions)
  for (const code of required) {
    if (!seen.has(code)) problems.push({ path: ['server', 'readyRegions'], message: `region "${String(code)}" is not configured` })
  }

  const callerNames = new Set<unknown>()
  const keyHashes = new Set<unknown>()
  asArray(root?.callers).forEach((entry, index) => {
    const caller = asObject(entry)
    if (caller === undefined) return
    if (callerNames.has(caller.name)) problems.push({ path: ['callers', index, 'name'], message: `caller "${String(caller.name)}" is defined twice` })
    callerNames.add(caller.name)
    asArray(caller.apiKeyHashes).forEach((hash, hashIndex) => {
      if (keyHashes.has(hash)) problems.push({ path: ['callers', index, 'apiKeyHashes', hashIndex], message: 'this API key hash is given to two callers' })
      keyHashes.add(hash)
    })
    asArray(caller.grants).forEach((grant, grantIndex) => {
      for (const code of asArray(asObject(grant)?.regions)) {
        if (!seen.has(code)) problems.push({ path: ['callers', index, 'grants', grantIndex, 'regions'], message: `region "${String(code)}" is not configured` })
      }
    })
  })
  problems.push(...jwtConfigProblems(root))
  return problems
}

/** One Redis topology at most, complete, and the token cache encrypted whenever Redis is used. */
function redisProblems (cache: Loose): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const set = (key: string): boolean => cache?.[key] !== undefined
  const topologies = [['redisUrl', 'REDIS_URL'], ['redisSentinels', 'REDIS_SENTINELS'], ['redisClusterNodes', 'REDIS_CLUSTER_NODES']].filter(([key]) => set(key ?? ''))
  if (topologies.length > 1) {
    problems.push({ path: ['cache', topologies[1]?.[0] ?? ''], message: `${topologies.map(([, env]) => env).join(', ')} are all set: give one Redis topology (REDIS_URL for a single server, REDIS_SENTINELS or REDIS_CLUSTER_NODES)` })
  }
  if (set('redisSentinels') && !set('redisSentinelMasterName')) problems.push({ path: ['cache', 'redisSentinelMasterName'], message: 'REDIS_SENTINEL_MASTER_NAME is required with REDIS_SENTINELS (the name the sentinels monitor, e.g. mymaster)' })
  if (!set('redisSentinels')) {
    for (const [key, env] of [['redisSentinelMasterName', 'REDIS_SENTINEL_MASTER_NAME'], ['redisSentinelPassword', 'REDIS_SENTINEL_PASSWORD']] as const) {
      if (set(key)) problems.push({ path: ['cache', key], message: `${env} only applies with REDIS_SENTINELS` })
    }
  }
  if (topologies.length === 0) {
    for (const [key, env] of [['redisUsername', 'REDIS_USERNAME'], ['redisPassword', 'REDIS_PASSWORD'], ['redisTlsCaFile', 'REDIS_TLS_CA_FILE']] as const) {
      if (set(key)) problems.push({ path: ['cache', key], message: `${env} is set but no Redis is (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)` })
    }
  }
  const url = cache?.redisUrl
  const tlsOn = cache?.redisTls === true || cache?.redisTls === 'true'
  if (typeof url === 'string' && url.startsWith('redis:') && tlsOn) problems.push({ path: ['cache', 'redisTls'], message: 'REDIS_TLS=true with a redis:// REDIS_URL: write the URL rediss:// for TLS' })
  if (topologies.length > 0 && !set('encryptionKeys') && !set('encryptionKeysFile')) {
    problems.push({ path: ['cache', 'encryptionKeys'], message: `CACHE_ENCRYPTION_KEYS or CACHE_ENCRYPTION_KEYS_FILE is required with ${topologies[0]?.[1] ?? 'Redis'}: tokens are never stored in Redis in clear` })
  }
  return problems
}

export type RawConfig = z.input<typeof ConfigSchema>
export type ParsedConfig = z.output<typeof ConfigSchema>
export type RegionEntry = z.output<typeof RegionSchema>
export type CallerConfig = z.output<typeof CallerSchema>
export type Grant = z.output<typeof GrantSchema>
