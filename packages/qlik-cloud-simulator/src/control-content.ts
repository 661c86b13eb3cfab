import { contentState, seedContent, seedUser, UnknownTenantError } from './content-seeding.js'
import { E, qlikError } from './envelope.js'
import type { ControlRoute } from './control-api.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import type { SeedContentInput, SeedUserInput } from './content-types.js'

// Control API for owned content (groundwork of the bot-user migration):
// seed users and content on a tenant, read owners and owner-change counts back.
// The seeding functions validate their input (a RangeError is a 400).

function attempt (run: () => SimResponse): SimResponse {
  try {
    return run()
  } catch (err) {
    if (err instanceof UnknownTenantError) return qlikError(404, E.tenantNotFound, err.message)
    if (err instanceof RangeError) return qlikError(400, E.badRequest, err.message)
    throw err
  }
}

export function contentControlRoutes (core: SimulatorCore): ControlRoute[] {
  return [
    {
      method: 'POST',
      pattern: '/__sim/tenants/{tenantId}/users',
      handle ({ params, body }) {
        return attempt(() => ({ status: 201, body: seedUser(core, params.tenantId ?? '', body as unknown as SeedUserInput) }))
      }
    },
    {
      method: 'POST',
      pattern: '/__sim/tenants/{tenantId}/content',
      handle ({ params, body }) {
        return attempt(() => ({ status: 201, body: seedContent(core, params.tenantId ?? '', body as unknown as SeedContentInput) }))
      }
    },
    {
      method: 'GET',
      pattern: '/__sim/tenants/{tenantId}/content',
      handle: ({ params }) => attempt(() => ({ status: 200, body: contentState(core, params.tenantId ?? '') }))
    }
  ]
}
