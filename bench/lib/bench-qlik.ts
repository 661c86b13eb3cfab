import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { firstJsonLine, startProcess, type Proc } from './processes.js'

/**
 * The Qlik every bench measures against: one simulator process with one eu
 * client, rate limits out of the way, one seeded tenant, and the broker's
 * secret file for that client. Shared by `npm run bench`, `bench:memory` and
 * `bench:variants`.
 */
export const SIM_CLIENT = { region: 'eu', clientId: 'bench-eu-client', clientSecret: 'bench-eu-secret-0123456789abcdef' }
export const REGISTER_HOST = 'register.eu.qlikcloud.com'

/** The simulator built beside the broker (`<dist>/simulator/main.js`), listening on a free port. */
export async function startBenchSimulator (dist: string): Promise<{ proc: Proc, origin: string, port: number }> {
  const proc = startProcess('simulator', process.execPath, [join(dist, 'simulator', 'main.js')], {
    env: {
      SIM_PORT: '0',
      SIM_HOST: '127.0.0.1',
      SIM_CLIENTS: JSON.stringify([SIM_CLIENT]),
      SIM_TIER1_PER_WINDOW: '1000000000',
      SIM_TIER2_PER_WINDOW: '1000000000',
      // The tenants route is measured on the register host, as in every earlier run (docs/benchmarks.md);
      // Qlik does not document it there, so the simulator serves it only under this guess.
      SIM_GUESS_REGISTER_SERVES_TENANT_READS: 'true'
    }
  })
  const line = await firstJsonLine(proc)
  return { proc, origin: String(line.url), port: Number(line.port) }
}

async function post (origin: string, path: string, host: string, body: string, contentType: string): Promise<Record<string, unknown>> {
  const response = await request(`${origin}${path}`, { method: 'POST', headers: { host, 'content-type': contentType }, body })
  const text = await response.body.text()
  if (response.statusCode >= 300) throw new Error(`POST ${path} on ${host}: ${response.statusCode} ${text}`)
  return JSON.parse(text) as Record<string, unknown>
}

async function mintToken (origin: string, host: string): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: SIM_CLIENT.clientId, client_secret: SIM_CLIENT.clientSecret })
  const answer = await post(origin, '/oauth/token', host, form.toString(), 'application/x-www-form-urlencoded')
  return String(answer.access_token)
}

/** The bot user's own path, from the `/users/me` redirect. */
async function botUserPathOf (origin: string, host: string, token: string): Promise<string> {
  const response = await request(`${origin}/api/v1/users/me`, { headers: { host, authorization: `Bearer ${token}` } })
  await response.body.dump()
  const location = response.headers.location
  if (response.statusCode !== 302 || typeof location !== 'string') throw new Error(`/users/me on ${host}: ${response.statusCode}, not a redirect`)
  return new URL(location, `https://${host}`).pathname
}

export interface SeededTenant {
  tenantId: string
  tenantHost: string
  /** Qlik tokens for the register host and the tenant host: what the bare proxy and nginx send. */
  registerToken: string
  tenantToken: string
  /** `/api/v1/users/{bot user id}`: where `/users/me` redirects (docs/reference/qlik-cloud-api.md §11); the users-me route reads it directly. */
  botUserPath: string
}

/** One tenant in the simulator, with the tokens and paths the benchmarked routes need. */
export async function seedTenant (origin: string): Promise<SeededTenant> {
  const tenant = await post(origin, '/__sim/tenants', REGISTER_HOST, JSON.stringify({ region: 'eu', name: 'bench' }), 'application/json')
  const tenantId = String(tenant.id)
  const tenantHost = String((tenant.hostnames as unknown[])[0])
  const registerToken = await mintToken(origin, REGISTER_HOST)
  const tenantToken = await mintToken(origin, tenantHost)
  return { tenantId, tenantHost, registerToken, tenantToken, botUserPath: await botUserPathOf(origin, tenantHost, tenantToken) }
}

/** The broker's secret file for the simulator's client, in `<dir>/secrets` (SECRETS_SOURCE=file). */
export function writeBenchSecrets (dir: string): void {
  mkdirSync(join(dir, 'secrets'))
  writeFileSync(join(dir, 'secrets', 'eu.json'), JSON.stringify({ client_id: SIM_CLIENT.clientId, client_secret: SIM_CLIENT.clientSecret }))
}

/** A broker API key and its config entry, made the way `qlik-broker create-api-key` makes them. */
export function apiKey (): { key: string, hash: string } {
  const key = `qbk_${randomBytes(32).toString('base64url')}`
  return { key, hash: `sha256:${createHash('sha256').update(key).digest('hex')}` }
}
