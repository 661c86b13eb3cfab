import { STATUS_CODES } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { appsRoutes } from './apps-api.js'
import { authenticate } from './auth.js'
import { automationsRoutes } from './automations-api.js'
import { createControlApi } from './control-api.js'
import { dataFilesRoutes } from './data-files-api.js'
import { E, qlikError, rateLimitError } from './envelope.js'
import { normalizeHost, readBody, send, splitUrl } from './http-utils.js'
import { oauthRoutes, unknownTenantToken } from './oauth.js'
import { reloadsRoutes } from './reloads-api.js'
import { createRouter } from './router.js'
import { spacesRoutes } from './spaces-api.js'
import { tenantsRoutes } from './tenants-api.js'
import { usersRoutes } from './users-api.js'
import type { SimulatorCore } from './core.js'
import type { FaultDecision } from './faults.js'
import type { SimResponse } from './http-utils.js'
import type { RouteMatch } from './router.js'
import type { RouteContext, RouteDef } from './route.js'
import type { Site } from './tenant-store.js'

const TOKEN_ROUTE = 'POST /oauth/token'

function injected (core: SimulatorCore, fault: FaultDecision): SimResponse {
  if (fault.outcome === 'rate-limit') {
    core.counters.injectedRateLimit()
    return rateLimitError(fault.retryAfterSeconds)
  }
  core.counters.injectedError()
  const status = fault.errorStatus
  return qlikError(status, { code: `HTTP-${status}`, title: STATUS_CODES[status] ?? 'Server Error' }, 'Injected fault')
}

/**
 * Order of checks for a Qlik request: known host → route counted → faults →
 * body → deactivated tenant → host kind → bearer token → rate limit → handler.
 */
export function createRequestHandler (core: SimulatorCore, signal: AbortSignal): (req: IncomingMessage, res: ServerResponse) => void {
  const router = createRouter<RouteDef>([
    ...oauthRoutes(core), ...tenantsRoutes(core), ...usersRoutes(core), ...spacesRoutes(core),
    ...appsRoutes(core), ...dataFilesRoutes(core), ...automationsRoutes(core), ...reloadsRoutes(core)
  ])
  const control = createControlApi(core)
  const { counters, tenants } = core

  function deactivated (site: Site): boolean {
    if (site.kind !== 'tenant') return false
    const status = tenants.get(site.tenantId)?.tenant.status
    return status === 'disabled' || status === 'deleted'
  }

  function dispatch (match: RouteMatch<RouteDef> | undefined, ctx: RouteContext): SimResponse {
    const { site } = ctx
    if (deactivated(site)) return qlikError(401, E.tenantDeactivated)
    if (match === undefined) return qlikError(404, E.notFound, `No route ${ctx.method} ${ctx.path}`)
    const def = match.route.def
    if (def.sites === 'tenant' && site.kind !== 'tenant') return qlikError(404, E.notFound, `No route ${ctx.method} ${ctx.path} on a register host`)
    if (def.auth === 'none') return def.handle(ctx)
    const auth = authenticate(core, ctx)
    if (!auth.ok) return auth.response
    const retryAfter = core.limiter.take(`${site.scope}|${auth.caller.clientId}`, def.method, def.pattern, def.tier)
    if (retryAfter > 0) {
      counters.rateLimited()
      return rateLimitError(retryAfter)
    }
    return def.handle(ctx, auth.caller)
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = splitUrl(req.url)
    if (path === '/__sim' || path.startsWith('/__sim/')) {
      send(res, await control(req, path))
      return
    }
    const host = normalizeHost(req.headers.host)
    const site = tenants.resolveHost(host)
    if (site === undefined) {
      counters.unknownHost()
      send(res, unknownTenantToken(core, req.method ?? 'GET', path, host) ?? qlikError(404, E.notFound, `Unknown host "${host}"`))
      return
    }
    const method = req.method ?? 'GET'
    const match = router.match(method, path)
    const key = match === undefined ? `${method} (unmatched)` : match.route.key
    counters.request(key)
    if (key === TOKEN_ROUTE) counters.tokenRequest()

    // Faults decide up front. Phase `before` answers without acting (the body
    // is drained by node); phase `after` lets the handler act, then replaces
    // its answer, which is the "did my POST happen?" case.
    const fault = core.faults.decide(host, path)
    if (fault !== undefined && fault.latencyMs > 0) await sleep(fault.latencyMs, undefined, { signal })
    if (fault?.outcome !== undefined && fault.phase === 'before') {
      send(res, injected(core, fault))
      return
    }

    const body = await readBody(req)
    let response: SimResponse
    if (body === 'too-large') {
      response = qlikError(413, E.payloadTooLarge, 'Request body exceeds 1 MiB')
    } else {
      response = dispatch(match, { method, path, query, params: match?.params ?? {}, headers: req.headers, body, host, site })
    }
    if (fault?.outcome !== undefined) response = injected(core, fault)
    send(res, response)
  }

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Aborted by close() during injected latency: nobody is waiting.
      if (signal.aborted) {
        res.destroy()
        return
      }
      send(res, qlikError(500, E.internal, err instanceof Error ? err.message : 'Unexpected error'))
    })
  }
}
