import { request } from 'undici'
import { createQlikSimulator } from '../src/index.js'
import type { QlikSimulator, QlikSimulatorOptions } from '../src/index.js'

export const REGION = 'eu'
export const CLIENT_ID = 'test-eu-client'
export const CLIENT_SECRET = 'test-eu-secret'
export const REGISTER = 'register.eu.qlikcloud.com'

export function startSimulator (options: QlikSimulatorOptions = {}): Promise<QlikSimulator> {
  return createQlikSimulator({
    clients: [
      { region: REGION, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      { region: 'us', clientId: 'test-us-client', clientSecret: 'test-us-secret', name: 'US Broker Client' }
    ],
    ...options
  })
}

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
  host?: string
  token?: string
  /** JSON-encoded unless a string (sent as is). */
  body?: unknown
  headers?: Record<string, string>
}

export interface CallResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  // Tests read fields of arbitrary response shapes; a loose type keeps them short.
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One request over real HTTP, with the Qlik host in the Host header. */
export async function call (sim: QlikSimulator, path: string, options: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { host: options.host ?? REGISTER, ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  let body: string | undefined
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
    headers['content-type'] ??= 'application/json'
  }
  const method = options.method ?? (body === undefined ? 'GET' : 'POST')
  const res = await request(`${sim.url}${path}`, body === undefined ? { method, headers } : { method, headers, body })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }
}

export async function mint (sim: QlikSimulator, host = REGISTER, secret = CLIENT_SECRET, clientId = CLIENT_ID): Promise<string> {
  const res = await call(sim, '/oauth/token', {
    host,
    body: { grant_type: 'client_credentials', client_id: clientId, client_secret: secret }
  })
  if (res.status !== 200) throw new Error(`mint on ${host} failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.access_token
}

/** Creates a tenant through the register host; returns it with a register token. */
export async function createTenant (sim: QlikSimulator, registerToken?: string): Promise<{ tenant: any, token: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const token = registerToken ?? await mint(sim)
  const res = await call(sim, '/api/v1/tenants', { token, body: { licenseKey: 'lic' } })
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`)
  return { tenant: res.body, token }
}

/** Asserts Qlik's standard error envelope and returns its first error. */
export function envelope (res: CallResult): { code: string, title: string, detail?: string, status?: string } {
  const { errors, traceId } = res.body ?? {}
  if (!Array.isArray(errors) || errors.length === 0) throw new Error(`no errors[] in ${JSON.stringify(res.body)}`)
  if (typeof traceId !== 'string' || !/^[0-9a-f]{32}$/.test(traceId)) throw new Error(`bad traceId in ${JSON.stringify(res.body)}`)
  return errors[0]
}

/** The caller's bot user id: `/users/me` is a redirect to `/api/v1/users/{id}` (docs/reference/qlik-cloud-api.md §11). */
export async function botUserId (sim: QlikSimulator, host: string, token: string): Promise<string> {
  const me = await call(sim, '/api/v1/users/me', { host, token })
  if (me.status !== 302) throw new Error(`/users/me answered ${me.status}, not a redirect`)
  const id = String(me.headers.location).split('/').at(-1)
  if (id === undefined || id === '') throw new Error('/users/me redirected nowhere')
  return id
}
