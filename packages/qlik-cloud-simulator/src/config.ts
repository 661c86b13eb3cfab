import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { clientsSchema } from './options.js'
import type { QlikSimulatorOptions, SimulatorClient } from './types.js'

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max)

const envSchema = z.object({
  SIM_PORT: int(0, 65535).default(4100),
  SIM_HOST: z.string().min(1).default('127.0.0.1'),
  SIM_DOMAIN: z.string().min(1).optional(),
  SIM_CLIENTS: z.string().optional(),
  SIM_CLIENTS_FILE: z.string().optional(),
  SIM_TOKEN_LIFETIME_SECONDS: z.coerce.number().positive().optional(),
  SIM_TIER1_PER_WINDOW: int(1).optional(),
  SIM_TIER2_PER_WINDOW: int(1).optional(),
  SIM_WINDOW_MS: int(1).optional(),
  /** A guess: the step in which Qlik slides its window (0: per millisecond). */
  SIM_GUESS_WINDOW_STEP_MS: int(0).optional(),
  /** Comma-separated accepted license keys; unset accepts any. */
  SIM_LICENSE_KEYS: z.string().optional(),
  /** Tenants one license key may create; unset is unlimited. */
  SIM_TENANT_QUOTA: int(0).optional(),
  // Guesses about undocumented Qlik behaviour (see QlikSimulatorOptions).
  SIM_GUESS_LICENSE_QUOTA_STATUS: z.enum(['400', '403']).transform(Number).pipe(z.union([z.literal(400), z.literal(403)])).optional(),
  SIM_GUESS_DEACTIVATE_CONFIRM_HOSTNAME: z.enum(['first', 'any']).optional(),
  SIM_GUESS_REDEACTIVATE_ACCEPTED: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  SIM_GUESS_REGISTER_SERVES_TENANT_READS: z.enum(['true', 'false']).transform((v) => v === 'true').optional()
})

export type ConfigResult = { ok: true, options: QlikSimulatorOptions, demoClients: boolean } | { ok: false, message: string }

function readClients (env: z.infer<typeof envSchema>): { ok: true, clients: SimulatorClient[] | undefined } | { ok: false, message: string } {
  if (env.SIM_CLIENTS !== undefined && env.SIM_CLIENTS_FILE !== undefined) {
    return { ok: false, message: 'set SIM_CLIENTS or SIM_CLIENTS_FILE, not both' }
  }
  let raw: unknown
  let source: string
  try {
    if (env.SIM_CLIENTS !== undefined) {
      source = 'SIM_CLIENTS'
      raw = JSON.parse(env.SIM_CLIENTS)
    } else if (env.SIM_CLIENTS_FILE !== undefined) {
      source = `SIM_CLIENTS_FILE (${env.SIM_CLIENTS_FILE})`
      // YAML is a superset of JSON: one parser reads both kinds of file.
      raw = parseYaml(readFileSync(env.SIM_CLIENTS_FILE, 'utf8'))
    } else {
      return { ok: true, clients: undefined }
    }
  } catch (err) {
    return { ok: false, message: `cannot read clients: ${err instanceof Error ? err.message : String(err)}` }
  }
  const clients = clientsSchema.safeParse(raw)
  if (!clients.success) return { ok: false, message: `${source} is invalid:\n${z.prettifyError(clients.error)}` }
  if (clients.data.length === 0) return { ok: false, message: `${source} has no clients` }
  return { ok: true, clients: clients.data.map((c) => c.name === undefined ? { region: c.region, clientId: c.clientId, clientSecret: c.clientSecret } : { ...c, name: c.name }) }
}

/** Simulator options from `SIM_*` environment variables. Empty variables count as unset. */
export function loadSimulatorConfig (rawEnv: NodeJS.ProcessEnv): ConfigResult {
  const present = Object.fromEntries(Object.entries(rawEnv).filter(([k, v]) => k.startsWith('SIM_') && v !== undefined && v.trim() !== ''))
  const parsed = envSchema.safeParse(present)
  if (!parsed.success) return { ok: false, message: `invalid environment:\n${z.prettifyError(parsed.error)}` }
  const env = parsed.data
  const clients = readClients(env)
  if (!clients.ok) return clients

  const options: QlikSimulatorOptions = { port: env.SIM_PORT, host: env.SIM_HOST }
  if (env.SIM_DOMAIN !== undefined) options.domain = env.SIM_DOMAIN
  if (clients.clients !== undefined) options.clients = clients.clients
  if (env.SIM_TOKEN_LIFETIME_SECONDS !== undefined) options.tokenLifetimeSeconds = env.SIM_TOKEN_LIFETIME_SECONDS
  const rateLimits: NonNullable<QlikSimulatorOptions['rateLimits']> = {}
  if (env.SIM_TIER1_PER_WINDOW !== undefined) rateLimits.tier1PerWindow = env.SIM_TIER1_PER_WINDOW
  if (env.SIM_TIER2_PER_WINDOW !== undefined) rateLimits.tier2PerWindow = env.SIM_TIER2_PER_WINDOW
  if (env.SIM_WINDOW_MS !== undefined) rateLimits.windowMs = env.SIM_WINDOW_MS
  if (env.SIM_GUESS_WINDOW_STEP_MS !== undefined) rateLimits.guessWindowStepMs = env.SIM_GUESS_WINDOW_STEP_MS
  if (Object.keys(rateLimits).length > 0) options.rateLimits = rateLimits
  if (env.SIM_LICENSE_KEYS !== undefined) {
    options.licenseKeys = env.SIM_LICENSE_KEYS.split(',').map((k) => k.trim()).filter((k) => k !== '')
  }
  if (env.SIM_TENANT_QUOTA !== undefined) options.tenantQuota = env.SIM_TENANT_QUOTA
  if (env.SIM_GUESS_LICENSE_QUOTA_STATUS !== undefined) options.guessLicenseQuotaStatus = env.SIM_GUESS_LICENSE_QUOTA_STATUS
  if (env.SIM_GUESS_DEACTIVATE_CONFIRM_HOSTNAME !== undefined) options.guessDeactivateConfirmHostname = env.SIM_GUESS_DEACTIVATE_CONFIRM_HOSTNAME
  if (env.SIM_GUESS_REDEACTIVATE_ACCEPTED !== undefined) options.guessRedeactivateAccepted = env.SIM_GUESS_REDEACTIVATE_ACCEPTED
  if (env.SIM_GUESS_REGISTER_SERVES_TENANT_READS !== undefined) options.guessRegisterServesTenantReads = env.SIM_GUESS_REGISTER_SERVES_TENANT_READS
  return { ok: true, options, demoClients: clients.clients === undefined }
}
