import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { ClientHistory } from '../clients/client-history.js'
import type { Readiness } from '../observability/readiness.js'
import type { RegionRegistry } from '../regions/region-registry.js'
import { AUTHENTICATED_ERRORS, BEARER_SECURITY, RegionParamsSchema } from './schemas.js'

export const RegionSchema = z.object({
  code: z.string(),
  registerHost: z.string(),
  tenantDomain: z.string(),
  credentials: z.object({
    status: z.enum(['ok', 'loaded', 'unknown', 'rejected', 'unavailable']).describe('ok: Qlik accepted the client; loaded: read, not used yet; rejected: Qlik refuses the client on its register host, or on a tenant host that accepted it before, and the secrets store has no newer secret (minting paused and retried in the background at retryAt; a new secret is used at once); unavailable: the secret cannot be read. A tenant host refusing a token on its own (QB_TENANT_HOST_REFUSED) does not change it.'),
    since: z.string().optional(),
    retryAt: z.string().optional(),
    detail: z.string().optional()
  }),
  breakers: z.object({
    register: z.enum(['closed', 'open', 'half-open']).describe('Circuit breaker of the register host in this replica.'),
    openTenantHosts: z.int().min(0).describe('Tenant hosts of the region whose breaker is open or half-open in this replica.')
  })
}).meta({ id: 'Region', description: 'A configured region and the health of its credentials. Never a secret.' })

const ClientHistorySchema = z.object({
  currentClientId: z.string().optional().describe('The client id this replica uses now.'),
  previous: z.array(z.object({
    clientId: z.string(),
    firstUsedAt: z.string(),
    lastUsedAt: z.string(),
    replacedAt: z.string().optional()
  })).describe('Client ids the region used before (a client recreated in My Qlik leaves its bot user on every tenant: docs/operations-bot-users.md), newest first.')
}).meta({ id: 'RegionClientHistory', description: 'Client ids only, never a secret.' })

const RegionDetailSchema = RegionSchema.extend({ clients: ClientHistorySchema.optional() }).meta({ id: 'RegionDetail', description: 'A configured region, the health of its credentials and its client history. Never a secret.' })

const RegionListSchema = z.object({
  regions: z.array(RegionSchema),
  secretsSource: z.object({ kind: z.string(), reachable: z.boolean() })
}).meta({ id: 'RegionList' })

export const regionRoutes: FastifyPluginAsyncZod<{ regions: RegionRegistry, readiness: Readiness, clientHistory: ClientHistory | undefined }> = async (app, { regions, readiness, clientHistory }) => {
  app.get('/regions', {
    config: { authenticate: true },
    schema: {
      tags: ['Regions'],
      operationId: 'listRegions',
      summary: 'Configured regions and the state of their credentials',
      security: BEARER_SECURITY,
      response: { 200: RegionListSchema, ...AUTHENTICATED_ERRORS }
    }
  }, async () => {
    const report = readiness.report()
    return { regions: report.regions, secretsSource: report.secretsSource }
  })

  app.get('/regions/:region', {
    config: { authenticate: true },
    schema: {
      tags: ['Regions'],
      operationId: 'getRegion',
      summary: 'One region and the state of its credentials',
      security: BEARER_SECURITY,
      params: RegionParamsSchema,
      response: { 200: RegionDetailSchema, ...AUTHENTICATED_ERRORS }
    }
  }, async (request) => {
    const region = regions.require(request.params.region)
    const state = readiness.region(region)
    if (clientHistory === undefined) return state
    const { currentClientId, previous } = await clientHistory.forRegion(region.code)
    return {
      ...state,
      clients: {
        ...(currentClientId === undefined ? {} : { currentClientId }),
        previous: previous.map(({ replacedAt, ...times }) => ({ ...times, ...(replacedAt === undefined ? {} : { replacedAt }) }))
      }
    }
  })
}
