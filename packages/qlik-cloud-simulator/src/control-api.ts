import type { IncomingMessage } from 'node:http'
import { z } from 'zod'
import { E, qlikError } from './envelope.js'
import { parseOptionalObject, readBody } from './http-utils.js'
import { faultsSchema } from './faults.js'
import { contentControlRoutes } from './control-content.js'
import { createRouter } from './router.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import type { AddTenantInput, Faults } from './types.js'

export interface ControlContext {
  params: Record<string, string>
  body: Record<string, unknown>
}

export interface ControlRoute {
  method: string
  pattern: string
  handle (ctx: ControlContext): SimResponse
}

const resetSchema = z.strictObject({ state: z.boolean().optional() })
const rotateSchema = z.strictObject({ clientSecret: z.string().min(1).optional() })
const recreateSchema = z.strictObject({ clientId: z.string().min(1).max(200).optional(), clientSecret: z.string().min(1).optional() })
const revokeSchema = z.strictObject({ host: z.string().min(1).optional() })
const addTenantSchema = z.strictObject({
  region: z.string().min(1),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  name: z.string().min(1).optional(),
  hostnames: z.array(z.string().min(1)).min(1).optional(),
  datacenter: z.string().min(1).optional(),
  status: z.enum(['active', 'disabled']).optional()
})

const ok = (body: unknown, status = 200): SimResponse => ({ status, body })

function invalid (error: z.ZodError): SimResponse {
  return qlikError(400, E.badRequest, z.prettifyError(error))
}

/** Drops keys whose value is undefined, for exactOptionalPropertyTypes targets. */
function defined<T extends object> (value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> }
}

function routes (core: SimulatorCore): ControlRoute[] {
  return [
    { method: 'GET', pattern: '/__sim/healthz', handle: () => ok({ status: 'ok' }) },
    { method: 'GET', pattern: '/__sim/counters', handle: () => ok(core.counters.snapshot()) },
    {
      method: 'POST',
      pattern: '/__sim/reset',
      handle ({ body }) {
        const parsed = resetSchema.safeParse(body)
        if (!parsed.success) return invalid(parsed.error)
        const state = parsed.data.state === true
        core.reset({ state })
        return ok({ reset: state ? ['counters', 'rateLimits', 'state'] : ['counters', 'rateLimits'] })
      }
    },
    { method: 'GET', pattern: '/__sim/faults', handle: () => ok({ faults: core.faults.get() ?? null }) },
    {
      method: 'PUT',
      pattern: '/__sim/faults',
      handle ({ body }) {
        const parsed = faultsSchema.safeParse(body)
        if (!parsed.success) return invalid(parsed.error)
        return ok({ faults: core.faults.set(defined(parsed.data) as Faults) })
      }
    },
    {
      method: 'DELETE',
      pattern: '/__sim/faults',
      handle () {
        core.faults.clear()
        return { status: 204 }
      }
    },
    {
      method: 'GET',
      pattern: '/__sim/clients',
      handle: () => ok({
        data: core.clients.regions().map((region) => ({ ...core.clients.get(region), registerHost: core.tenants.registerHost(region) }))
      })
    },
    {
      method: 'POST',
      pattern: '/__sim/clients/{region}/rotate',
      handle ({ params, body }) {
        const region = params.region ?? ''
        const client = core.clients.get(region)
        if (client === undefined) return qlikError(404, E.notFound, `No client for region "${region}"`)
        const parsed = rotateSchema.safeParse(body)
        if (!parsed.success) return invalid(parsed.error)
        const given = parsed.data.clientSecret
        const secret = core.clients.rotate(region, given)
        // A secret the caller chose is never echoed; a generated one is
        // returned, since the caller has no other way to learn it.
        return ok(given === undefined ? { region, clientId: client.clientId, clientSecret: secret } : { region, clientId: client.clientId })
      }
    },
    {
      method: 'POST',
      pattern: '/__sim/clients/{region}/recreate',
      handle ({ params, body }) {
        const region = params.region ?? ''
        if (core.clients.get(region) === undefined) return qlikError(404, E.notFound, `No client for region "${region}"`)
        const parsed = recreateSchema.safeParse(body)
        if (!parsed.success) return invalid(parsed.error)
        try {
          const created = core.recreateClient(region, parsed.data)
          const { clientSecret, ...rest } = created
          // As for rotate: a chosen secret is never echoed, a generated one is.
          return ok(parsed.data.clientSecret === undefined ? created : rest)
        } catch (err) {
          if (err instanceof RangeError) return qlikError(409, E.conflict, err.message)
          throw err
        }
      }
    },
    {
      method: 'POST',
      pattern: '/__sim/tokens/revoke',
      handle ({ body }) {
        const parsed = revokeSchema.safeParse(body)
        if (!parsed.success) return invalid(parsed.error)
        const { host } = parsed.data
        return ok({ revoked: core.revokeTokens(host === undefined ? {} : { host }) })
      }
    },
    { method: 'GET', pattern: '/__sim/tenants', handle: () => ok({ data: core.tenantSnapshots() }) },
    {
      method: 'POST',
      pattern: '/__sim/tenants',
      handle ({ body }) {
        const parsed = addTenantSchema.safeParse(body)
        if (!parsed.success) return invalid(parsed.error)
        try {
          return ok(core.addTenant(defined(parsed.data) as AddTenantInput), 201)
        } catch (err) {
          if (err instanceof RangeError) return qlikError(400, E.badRequest, err.message)
          throw err
        }
      }
    },
    {
      method: 'GET',
      pattern: '/__sim/tenants/{tenantId}',
      handle ({ params }) {
        const tenant = core.tenantSnapshot(params.tenantId ?? '')
        return tenant === undefined ? qlikError(404, E.tenantNotFound) : ok(tenant)
      }
    }
  ]
}

/**
 * The simulator's own API under `/__sim/`, on any host. It is never rate
 * limited, faulted or counted, so tests can always observe and steer.
 */
export function createControlApi (core: SimulatorCore): (req: IncomingMessage, path: string) => Promise<SimResponse> {
  const router = createRouter([...routes(core), ...contentControlRoutes(core)])
  return async (req, path) => {
    const match = router.match(req.method ?? 'GET', path)
    if (match === undefined) return qlikError(404, E.notFound, `No simulator control route ${req.method ?? ''} ${path}`)
    const raw = await readBody(req)
    if (raw === 'too-large') return qlikError(413, E.payloadTooLarge, 'Request body exceeds 1 MiB')
    const body = parseOptionalObject(raw)
    if (!body.ok) return qlikError(400, E.badRequest, body.reason)
    return match.route.def.handle({ params: match.params, body: body.value })
  }
}
