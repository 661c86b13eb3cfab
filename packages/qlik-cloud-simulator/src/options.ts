import { z } from 'zod'
import { DEMO_CLIENTS, REGION_PATTERN } from './regions.js'
import type { SpecialLimit } from './rate-limiter.js'
import type { QlikSimulatorOptions, SimulatorClient } from './types.js'

/** The special tiers Qlik states a number for: reloads 50/min (reference §11, changelog 108). */
export const DOCUMENTED_SPECIAL_LIMITS: readonly SpecialLimit[] = [
  { name: 'reloads', method: 'POST', pattern: '/api/v1/reloads', requests: 50, windowMs: 60_000 }
]

export const clientSchema = z.strictObject({
  region: z.string().regex(REGION_PATTERN, 'region must be lowercase letters, digits and dashes'),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  name: z.string().min(1).optional()
})

export const clientsSchema = z.array(clientSchema).superRefine((clients, ctx) => {
  const seen = new Set<string>()
  for (const c of clients) {
    if (seen.has(c.region)) ctx.addIssue({ code: 'custom', message: `region "${c.region}" has more than one client (Qlik allows one per region)` })
    seen.add(c.region)
  }
})

const optionsSchema = z.strictObject({
  port: z.int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  domain: z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)*$/i, 'domain must be a DNS name').optional(),
  clients: clientsSchema.optional(),
  tokenLifetimeSeconds: z.number().positive().optional(),
  rateLimits: z.strictObject({
    tier1PerWindow: z.int().min(1).optional(),
    tier2PerWindow: z.int().min(1).optional(),
    windowMs: z.int().min(1).optional(),
    specialLimits: z.array(z.strictObject({
      name: z.string().min(1),
      method: z.string().regex(/^[A-Z]+$/, 'an HTTP method in capitals'),
      pattern: z.string().startsWith('/'),
      requests: z.int().min(1),
      windowMs: z.int().min(1)
    })).optional(),
    guessWindowStepMs: z.int().min(0).optional()
  }).optional(),
  licenseKeys: z.array(z.string().min(1)).optional(),
  tenantQuota: z.int().min(0).optional(),
  guessLicenseQuotaStatus: z.union([z.literal(400), z.literal(403)]).optional(),
  guessDeactivateConfirmHostname: z.enum(['first', 'any']).optional(),
  guessRedeactivateAccepted: z.boolean().optional(),
  guessUnknownTenantTokenStatus: z.union([z.literal(401), z.literal(404)]).optional(),
  now: z.custom<() => number>((v) => typeof v === 'function', 'now must be a function').optional(),
  guessRegisterServesTenantReads: z.boolean().optional()
})

export interface ResolvedOptions {
  port: number
  host: string
  domain: string
  clients: SimulatorClient[]
  tokenLifetimeSeconds: number
  tier1PerWindow: number
  tier2PerWindow: number
  windowMs: number
  specialLimits: SpecialLimit[]
  guessWindowStepMs: number
  licenseKeys: Set<string> | undefined
  tenantQuota: number | undefined
  guessLicenseQuotaStatus: 400 | 403
  guessDeactivateConfirmHostname: 'first' | 'any'
  guessRedeactivateAccepted: boolean
  guessUnknownTenantTokenStatus: 401 | 404
  now: () => number
  guessRegisterServesTenantReads: boolean
}

/** Applies defaults; throws a TypeError naming every bad option. */
export function resolveOptions (options: QlikSimulatorOptions): ResolvedOptions {
  const result = optionsSchema.safeParse(options)
  if (!result.success) throw new TypeError(`invalid Qlik simulator options:\n${z.prettifyError(result.error)}`)
  const o = result.data
  return {
    port: o.port ?? 0,
    host: o.host ?? '127.0.0.1',
    domain: (o.domain ?? 'qlikcloud.com').toLowerCase(),
    // Copies, so that callers mutating their array later change nothing.
    clients: (options.clients ?? DEMO_CLIENTS).map((c) => ({ ...c })),
    tokenLifetimeSeconds: o.tokenLifetimeSeconds ?? 21600,
    // Qlik's tiers, 1,000/min and 100/min, are counted over 5 minutes (reference §5, §11).
    tier1PerWindow: o.rateLimits?.tier1PerWindow ?? 5000,
    tier2PerWindow: o.rateLimits?.tier2PerWindow ?? 500,
    windowMs: o.rateLimits?.windowMs ?? 300_000,
    specialLimits: (o.rateLimits?.specialLimits ?? DOCUMENTED_SPECIAL_LIMITS).map((limit) => ({ ...limit })),
    guessWindowStepMs: o.rateLimits?.guessWindowStepMs ?? 0,
    licenseKeys: o.licenseKeys === undefined ? undefined : new Set(o.licenseKeys),
    tenantQuota: o.tenantQuota,
    guessLicenseQuotaStatus: o.guessLicenseQuotaStatus ?? 403,
    guessDeactivateConfirmHostname: o.guessDeactivateConfirmHostname ?? 'first',
    guessRedeactivateAccepted: o.guessRedeactivateAccepted ?? true,
    guessUnknownTenantTokenStatus: o.guessUnknownTenantTokenStatus ?? 401,
    now: o.now ?? Date.now,
    guessRegisterServesTenantReads: o.guessRegisterServesTenantReads ?? false
  }
}
