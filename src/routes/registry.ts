import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { mayAllowForSomeTenant } from '../auth/policy.js'
import { callerOf } from '../http/authentication.js'
import { BrokerError } from '../http/broker-error.js'
import type { RegionRegistry } from '../regions/region-registry.js'
import { listVisibleTenants } from '../registry/list-tenants.js'
import type { TenantRegistry } from '../registry/tenant-registry.js'
import { AUTHENTICATED_ERRORS, BEARER_SECURITY, ProblemSchema, RegionParamsSchema } from './schemas.js'

export const TENANT_STATUSES = ['active', 'disabled', 'deleted', 'user-access-disabled'] as const

export const RegisteredTenantSchema = z.object({
  id: z.string(),
  name: z.string(),
  hostnames: z.array(z.string()),
  region: z.string(),
  datacenter: z.string().optional(),
  status: z.string().describe('Last status Qlik reported to the broker (create, deactivate, reactivate).'),
  createdBy: z.string().describe('The caller that created it through the broker.'),
  createdAt: z.string(),
  updatedAt: z.string()
}).meta({ id: 'RegisteredTenant', description: 'A tenant the broker created, as Qlik last described it to the broker.' })

const RegisteredTenantListSchema = z.object({
  data: z.array(RegisteredTenantSchema),
  nextCursor: z.string().optional().describe('Present when more tenants may follow: pass it as `cursor`. A page may hold fewer than `limit` tenants and still have one.'),
  links: z.object({ next: z.object({ href: z.string() }).optional() })
}).meta({ id: 'RegisteredTenantList' })

const ListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('Tenants per page, 1 to 200.'),
  cursor: z.string().min(1).max(200).optional().describe('`nextCursor` of the previous page.'),
  status: z.enum(TENANT_STATUSES).optional().describe('Only tenants with this last known status.')
})

/**
 * The broker's registry of the tenants it created (Qlik has no tenant list
 * for regional clients), filtered by the caller's `tenants:read` grants.
 * Reads the broker's own data only: nothing is sent to Qlik.
 */
export const registryRoutes: FastifyPluginAsyncZod<{ regions: RegionRegistry, registry: TenantRegistry }> = async (app, { regions, registry }) => {
  app.get('/regions/:region/tenants', {
    config: { authenticate: true },
    schema: {
      tags: ['Tenant registry'],
      operationId: 'listRegisteredTenants',
      summary: 'Tenants the broker created in the region that the caller may read, in creation order',
      description: 'The broker records every tenant created through it from Qlik\'s answers (create, deactivate, reactivate, rename, alias). Paginated with an opaque cursor. Only tenants the caller\'s `tenants:read` grants cover are listed (with `tenants: created`, the ones it created).',
      security: BEARER_SECURITY,
      params: RegionParamsSchema,
      querystring: ListQuerySchema,
      response: { 200: RegisteredTenantListSchema, 400: ProblemSchema, ...AUTHENTICATED_ERRORS }
    }
  }, async (request) => {
    const caller = callerOf(request)
    const region = regions.require(request.params.region)
    if (!mayAllowForSomeTenant(caller, { kind: 'action', region: region.code, action: 'tenants:read' })) {
      throw new BrokerError('QB_FORBIDDEN', `no grant of caller "${caller.name}" allows tenants:read in region "${region.code}"`)
    }
    const { limit, cursor, status } = request.query
    const page = await listVisibleTenants(registry, caller, { region: region.code, limit, cursor, status })
    const next = page.nextCursor === undefined
      ? undefined
      : `/regions/${region.code}/tenants?${new URLSearchParams({ limit: String(limit), cursor: page.nextCursor, ...(status === undefined ? {} : { status }) }).toString()}`
    return {
      data: page.tenants,
      ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
      links: next === undefined ? {} : { next: { href: next } }
    }
  })
}
