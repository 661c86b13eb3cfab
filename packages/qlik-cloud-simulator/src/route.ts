import type { IncomingHttpHeaders } from 'node:http'
import type { SimResponse } from './http-utils.js'
import type { Tier } from './rate-limiter.js'
import type { Site } from './tenant-store.js'
import type { TokenRecord } from './tokens.js'

/** What a Qlik API handler gets: the request, already read, and the host it was sent to. */
export interface RouteContext {
  method: string
  path: string
  query: string
  params: Record<string, string>
  headers: IncomingHttpHeaders
  body: Buffer
  /** Normalised Host header. */
  host: string
  site: Site
}

interface RouteBase {
  method: string
  pattern: string
  tier: Tier
  /** `tenant`: only on tenant hosts (404 on register hosts, before authentication). */
  sites: 'any' | 'tenant'
}

export interface BearerRoute extends RouteBase {
  auth: 'bearer'
  /** Runs after authentication and the rate limit. */
  handle (ctx: RouteContext, caller: TokenRecord): SimResponse
}

export interface OpenRoute extends RouteBase {
  auth: 'none'
  /** Authentication and rate limiting are the handler's job. */
  handle (ctx: RouteContext): SimResponse
}

export type RouteDef = BearerRoute | OpenRoute

/** Types `handle` contextually (a plain object literal against the union would not). */
export function bearerRoute (def: Omit<BearerRoute, 'auth'>): BearerRoute {
  return { ...def, auth: 'bearer' }
}
