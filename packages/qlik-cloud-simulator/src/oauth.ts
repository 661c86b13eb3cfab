import { E, qlikError, rateLimitError } from './envelope.js'
import { isObject, mediaType, parseJson } from './http-utils.js'
import { isTenantHostname } from './regions.js'
import type { SimulatorCore } from './core.js'
import type { Parsed, SimResponse } from './http-utils.js'
import type { RouteContext, RouteDef } from './route.js'

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

function readForm (ctx: RouteContext): Parsed<Record<string, unknown>> {
  const type = mediaType(ctx.headers['content-type'])
  if (type === 'application/x-www-form-urlencoded') {
    return { ok: true, value: Object.fromEntries(new URLSearchParams(ctx.body.toString('utf8'))) }
  }
  if (type !== 'application/json' && type !== '') return { ok: false, reason: `Unsupported content type "${type}"` }
  const parsed = parseJson(ctx.body)
  if (!parsed.ok) return parsed
  if (!isObject(parsed.value)) return { ok: false, reason: 'Request body must be a JSON object' }
  return { ok: true, value: parsed.value }
}

function field (form: Record<string, unknown>, name: string): string | undefined {
  const value = form[name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

function token (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const form = readForm(ctx)
  if (!form.ok) return qlikError(400, E.invalidRequest, form.reason)
  const grantType = field(form.value, 'grant_type')
  if (grantType === undefined) return qlikError(400, E.invalidRequest, 'grant_type is required')
  if (grantType !== 'client_credentials') return qlikError(400, E.unsupportedGrantType, `grant_type "${grantType}" is not supported`)
  const clientId = field(form.value, 'client_id')
  const secret = field(form.value, 'client_secret')
  if (clientId === undefined || secret === undefined) return qlikError(400, E.invalidRequest, 'client_id and client_secret are required')

  const { site } = ctx
  // Only the region's real client id gets its own bucket: arbitrary ids from
  // the body must not grow the limiter's map.
  const identity = core.clients.get(site.region)?.clientId === clientId ? clientId : '?'
  const retryAfter = core.limiter.take(`${site.scope}|${identity}`, 'POST', '/oauth/token', 2)
  if (retryAfter > 0) {
    core.counters.rateLimited()
    return rateLimitError(retryAfter)
  }

  const client = core.clients.verify(site.region, clientId, secret)
  if (client === undefined) return qlikError(401, E.invalidClient, 'Client authentication failed')
  if (site.kind === 'tenant') {
    const record = core.tenants.get(site.tenantId)
    if (record !== undefined) core.tenants.ensureBotUser(record, client)
  }
  const minted = core.tokens.mint({ scope: site.scope, host: ctx.host, region: site.region, clientId })
  core.counters.mint(ctx.host)
  return {
    status: 200,
    headers: NO_STORE,
    body: {
      access_token: minted.token,
      token_type: 'bearer',
      expires_in: Math.round(core.options.tokenLifetimeSeconds),
      expires_at: new Date(minted.expiresAt).toISOString()
    }
  }
}

// Guessed: the code of Qlik's login refusal on an unknown tenant URL (reference §11).
const UNKNOWN_TENANT_LOGIN = { code: 'LOGIN-2', title: 'Unauthorized' }

/**
 * `POST /oauth/token` on a hostname shaped like a tenant of a known region
 * but naming no tenant. Qlik's answer is undocumented, so it is the
 * `guessUnknownTenantTokenStatus` option. Undefined for any other request.
 */
export function unknownTenantToken (core: SimulatorCore, method: string, path: string, host: string): SimResponse | undefined {
  if (method !== 'POST' || path !== '/oauth/token') return undefined
  if (!core.clients.regions().some((region) => isTenantHostname(host, region, core.options.domain))) return undefined
  if (core.options.guessUnknownTenantTokenStatus === 404) return qlikError(404, E.notFound, `Unknown host "${host}"`)
  return qlikError(401, UNKNOWN_TENANT_LOGIN, 'Login failed')
}

/** `POST /oauth/token`, client credentials only (reference §2). `scope` is accepted and ignored. */
export function oauthRoutes (core: SimulatorCore): RouteDef[] {
  return [
    { method: 'POST', pattern: '/oauth/token', tier: 2, sites: 'any', auth: 'none', handle: (ctx) => token(core, ctx) }
  ]
}
