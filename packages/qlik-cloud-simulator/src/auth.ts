import { E, qlikError } from './envelope.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import type { RouteContext } from './route.js'
import type { TokenRecord } from './tokens.js'

export type AuthResult = { ok: true, caller: TokenRecord } | { ok: false, response: SimResponse }

const unauthorized = (detail: string): AuthResult => ({ ok: false, response: qlikError(401, E.unauthorized, detail) })

/**
 * Checks `Authorization: Bearer <token>`. A token is good only for the tenant
 * (any of its hostnames) or register host it was minted on.
 */
export function authenticate (core: SimulatorCore, ctx: RouteContext): AuthResult {
  const header = ctx.headers.authorization
  if (header === undefined || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') {
    return unauthorized('Missing bearer token')
  }
  const caller = core.tokens.lookup(header.slice(7).trim())
  if (caller === undefined) {
    core.counters.unknownToken()
    return unauthorized('Invalid or revoked token')
  }
  if (caller.scope !== ctx.site.scope) {
    core.counters.foreignHostToken()
    return unauthorized('Token was not issued for this host')
  }
  if (core.options.now() >= caller.expiresAt) {
    core.counters.expiredToken()
    return unauthorized('Token has expired')
  }
  return { ok: true, caller }
}
