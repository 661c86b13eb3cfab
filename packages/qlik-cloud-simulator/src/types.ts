import type { AssignedRole } from './roles.js'
import type { SeedContentInput, SeededContent, SeedUserInput, TenantContentState } from './content-types.js'
import type { SpecialLimit } from './rate-limiter.js'

/** One regional OAuth client, as created in My Qlik (one per region). */
export interface SimulatorClient {
  region: string
  clientId: string
  clientSecret: string
  /** Display name of the client; also the bot user's name. Default `<REGION> OAuth Client`. */
  name?: string
}

export interface SimulatorRateLimits {
  /** Tier 1 (GETs) requests per window, per (tenant or register host, client). Default 5000 (1,000/min over 5 minutes). */
  tier1PerWindow?: number
  /** Tier 2 (writes and /oauth/token) requests per window. Default 500 (100/min over 5 minutes). */
  tier2PerWindow?: number
  /** Window length of the tiers in milliseconds: Qlik counts over 5 minutes (reference §5, §11). Default 300000. */
  windowMs?: number
  /**
   * Endpoints with a limit of their own, by route method and pattern; a 429
   * there blocks only that bucket. Default: reloads (`POST /api/v1/reloads`),
   * 50 per 60 s, as Qlik states it (reference §11).
   */
  specialLimits?: SpecialLimit[]
  /**
   * A guess, 0 by default: how finely Qlik slides its window is not
   * documented. 0 slides it per millisecond; a step counts requests in slots
   * of that length, each leaving the window only when all of it is older.
   */
  guessWindowStepMs?: number
}

export interface QlikSimulatorOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number
  /** Bind address. Default `127.0.0.1`. */
  host?: string
  /** Qlik domain; a region's hosts are `*.{region}.{domain}`. Default `qlikcloud.com`. */
  domain?: string
  /** Regional clients; a register host exists for each region. Default: the demo set (`DEMO_CLIENTS`). */
  clients?: SimulatorClient[]
  /** Lifetime of minted access tokens. Default 21600 (6 h), as Qlik. */
  tokenLifetimeSeconds?: number
  rateLimits?: SimulatorRateLimits
  /** Accepted `licenseKey` values for tenant creation. Default: any non-empty string. */
  licenseKeys?: string[]
  /** Tenants one license key may create; the next create answers `TENANTS-22`. Default: unlimited. */
  tenantQuota?: number
  /**
   * Guess: the HTTP status of `TENANTS-22` (license quota reached). Qlik names
   * the code but not its status; create documents 400 and 403. Default 403.
   */
  guessLicenseQuotaStatus?: 400 | 403
  /**
   * Guess: which hostname `qlik-confirm-hostname` must name on deactivate.
   * Qlik says "the" hostname (reactivate: "one of" them); for a tenant with an
   * alias that is undocumented. `first` (default): `hostnames[0]`; `any`: any of them.
   */
  guessDeactivateConfirmHostname?: 'first' | 'any'
  /**
   * Guess: a second deactivate of a disabled tenant is accepted and restarts
   * the purge countdown (Qlik: deactivating again "resets the countdown").
   * Default true; false answers 400 as if it were refused.
   */
  guessRedeactivateAccepted?: boolean
  /**
   * A guess: what `POST /oauth/token` answers on a tenant hostname that does
   * not exist (misspelt, purged, foreign). Undocumented
   * (docs/reference/qlik-cloud-api.md §11); a login to an unknown tenant URL
   * gives 401 `LOGIN-2`, hence the default 401 with a `LOGIN-2` envelope;
   * 404 is the alternative. Other requests to unknown hosts answer 404.
   */
  guessUnknownTenantTokenStatus?: 401 | 404
  /** Clock in epoch milliseconds, for tests that control time. Default `Date.now`. */
  now?: () => number
  /**
   * A guess, not documented by Qlik: the register host also serves GET and
   * PATCH of a tenant (docs/reference/qlik-cloud-api.md §11 marks it [U]).
   * Default false: the register host answers those as an unknown route (404),
   * as Qlik documents only create, deactivate and reactivate there.
   */
  guessRegisterServesTenantReads?: boolean
}

export type TenantStatus = 'active' | 'disabled' | 'deleted' | 'user-access-disabled'

/** Qlik's Tenant object (reference §3.3). */
export interface Tenant {
  id: string
  name: string
  hostnames: string[]
  region: string
  datacenter: string
  status: TenantStatus
  statusLastUpdatedAt: string
  created: string
  lastUpdated: string
  createdByUser: string
  links: { self: { href: string } }
  autoAssignCreateSharedSpacesRoleToProfessionals: boolean
  autoAssignPrivateAnalyticsContentCreatorRoleToProfessionals: boolean
  autoAssignDataServicesContributorRoleToProfessionals: boolean
  enableAnalyticCreation: boolean
  enableAppOpeningFeedback: boolean
}

export type UserStatus = 'active' | 'invited' | 'disabled' | 'deleted'

/** A user object as Qlik returns it today (docs/reference/qlik-cloud-api.md §11). */
export interface User {
  id: string
  tenantId: string
  /** Present on bot users only. */
  clientId?: string
  subject: string
  name?: string
  email?: string
  status: UserStatus
  assignedRoles: AssignedRole[]
  createdAt: string
  lastUpdatedAt: string
  links: { self: { href: string } }
}

export interface Space {
  id: string
  tenantId: string
  name: string
  type: 'shared' | 'managed' | 'data'
  description: string
  ownerId: string
  createdAt: string
  createdBy: string
  updatedAt: string
  links: { self: { href: string }, assignments: { href: string } }
}

/** Seeds a tenant directly, without the tenants API (no token, no rate limit). */
export interface AddTenantInput {
  region: string
  id?: string
  name?: string
  /** Default `['<generated name>.<region>.<domain>']`. Every entry must end in `.<region>.<domain>`. */
  hostnames?: string[]
  datacenter?: string
  status?: 'active' | 'disabled'
}

/**
 * Fault injection. Rates are probabilities in 0..1 rolled per matching
 * request. Faults never apply to `/__sim/`.
 */
export interface Faults {
  /** Added delay before the request is handled. */
  latencyMs?: number
  /** Share of requests answered with an injected 5xx envelope. */
  errorRate?: number
  /** Status of injected errors, 500..599. Default 503. */
  errorStatus?: number
  /** Share of requests answered with an injected 429. */
  rateLimitRate?: number
  /** Retry-After of injected 429s. Default 1. */
  retryAfterSeconds?: number
  /** Only requests to these hosts (case-insensitive). Default: all hosts. */
  hosts?: string[]
  /** Only requests whose path starts with one of these. Default: all paths. */
  paths?: string[]
  /**
   * `before` (default): the request is rejected without acting.
   * `after`: the request acts (a tenant is created, a token minted), then the
   * answer is replaced by the injected error: the caller cannot know it acted.
   */
  phase?: 'before' | 'after'
  /** Affect at most this many matching requests, then clear the faults. Default: unlimited. */
  times?: number
}

export interface SimulatorCounters {
  /** Successful token responses per host. */
  mints: Record<string, number>
  /** Every POST /oauth/token, successful or not. */
  tokenRequests: number
  /** Requests per `METHOD /route/{pattern}` (unmatched paths: `METHOD (unmatched)`). */
  requests: Record<string, number>
  expiredTokenRequests: number
  foreignHostTokenRequests: number
  /** Unknown or revoked bearer tokens (revoked tokens are forgotten, as Qlik does). */
  unknownTokenRequests: number
  /** 429s from the rate limiter (injected ones are in `injected.rateLimits`). */
  rateLimited: number
  injected: { errors: number, rateLimits: number }
  /** Requests whose Host header names no known host. */
  unknownHostRequests: number
}

export interface QlikSimulator {
  /** Base URL to connect to, e.g. `http://127.0.0.1:41234`. Send the Qlik host in the Host header. */
  readonly url: string
  readonly port: number
  readonly domain: string
  /** `register.{region}.{domain}` */
  registerHost (region: string): string
  close (): Promise<void>
  counters (): SimulatorCounters
  /** Replaces a region's secret (random when omitted) and returns it. The old secret stops working at once. */
  rotateSecret (region: string, newSecret?: string): string
  /**
   * Deletes and recreates a region's client (new id, and the given or a
   * random secret). The old id and secret are refused at once, tokens
   * minted with the old client answer 401, old bot users keep their content,
   * and the new client gets a new bot user on each tenant it asks a token for.
   */
  recreateClient (region: string, input?: { clientId?: string, clientSecret?: string }): { region: string, clientId: string, clientSecret: string }
  /** Revokes tokens (all, or those minted for the host's tenant or register host). Returns how many. */
  revokeTokens (filter?: { host?: string }): number
  setFaults (faults: Faults): void
  clearFaults (): void
  /** Clears counters and rate-limit windows; with `state: true` also tenants, tokens, faults and rotated secrets. */
  reset (options?: { state?: boolean }): void
  addTenant (input: AddTenantInput): Tenant
  getTenant (id: string): Tenant | undefined
  tenants (): Tenant[]
  /**
   * Every access token the simulator handed out (and still remembers). For
   * callers' leak tests: search logs, responses and caches for these.
   */
  issuedTokens (): string[]
  // The three below throw a RangeError for an unknown tenant or bad input.
  /** Adds a user to a tenant; with `clientId` it is that client's bot user there (e.g. a deleted client's). */
  addUser (tenantId: string, input: SeedUserInput): User
  /** Seeds content owned by one user of the tenant; returns the new ids per kind. */
  seedContent (tenantId: string, input: SeedContentInput): SeededContent
  /** Every owned item of the tenant with its owner and how many times its owner was changed. */
  content (tenantId: string): TenantContentState
}
