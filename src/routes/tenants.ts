import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { callerOf } from '../http/authentication.js'
import { keyedRequestOf } from '../http/idempotent-request.js'
import { sendAnswer } from '../http/send-answer.js'
import { sendCaptured } from '../http/send-captured.js'
import type { Idempotency } from '../idempotency/idempotency.js'
import { IDEMPOTENT_ERRORS, IdempotencyKeyHeaderSchema } from '../idempotency/idempotency-schemas.js'
import { upstreamRequestHeaders } from '../qlik/header-policy.js'
import {
  QlikErrorsSchema,
  TenantCreationRequestSchema,
  TenantDeactivateRequestSchema,
  TenantDeactivateResponseSchema,
  TenantPatchRequestSchema,
  TenantReactivateRequestSchema,
  TenantReactivateResponseSchema,
  TenantSchema
} from '../qlik/tenant-schemas.js'
import type { LifecycleRequest, TenantLifecycle } from '../tenants/tenant-lifecycle.js'
import { AUTHENTICATED_ERRORS, BEARER_SECURITY, ProblemSchema, RegionParamsSchema } from './schemas.js'

const TenantParamsSchema = RegionParamsSchema.extend({
  tenantId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a tenant id is letters, digits, - or _').describe('Qlik tenant id.')
})

const ConfirmHostnameHeadersSchema = z.object({
  'qlik-confirm-hostname': z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'a hostname of the tenant').describe('One of the tenant\'s hostnames, as Qlik requires; a mismatch is answered 412 by Qlik.'),
  'qlik-api-version': z.string().optional(),
  'idempotency-key': IdempotencyKeyHeaderSchema
})

const ApiVersionHeadersSchema = z.object({ 'qlik-api-version': z.string().optional() })
/** GET/PATCH go to the tenant's own host: for a tenant the broker cannot place, the caller names the host. */
const TenantHostHeadersSchema = ApiVersionHeadersSchema.extend({
  'qlik-tenant-hostname': z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'a hostname of the tenant').optional()
    .describe('A hostname of the tenant (<name>.<region>.qlikcloud.com), for a tenant the broker\'s registry does not know; the call goes to that host. Refused when the registry knows the tenant under other hostnames.')
})
const PatchHeadersSchema = TenantHostHeadersSchema.extend({ 'idempotency-key': IdempotencyKeyHeaderSchema })
const MutatingHeadersSchema = ApiVersionHeadersSchema.extend({ 'idempotency-key': IdempotencyKeyHeaderSchema })

/** How a caller finds out what happened when Qlik did not answer (the idempotency unknown-outcome problem). */
const checkTenant = (region: string, tenantId: string, what: string): string => `GET /regions/${region}/api/v1/tenants/${tenantId} shows ${what}.`

const UPSTREAM_ERRORS = {
  400: z.union([ProblemSchema, QlikErrorsSchema]),
  422: ProblemSchema,
  412: QlikErrorsSchema,
  429: QlikErrorsSchema,
  ...AUTHENTICATED_ERRORS
}

const TAGS = ['Tenants lifecycle']

/**
 * Idempotent lifecycle actions: the work runs the action with the caller's
 * key; a request answered from its key is judged by the policy in force and
 * leaves its audit event (src/idempotency/idempotency.ts).
 */
function keyedAction (lifecycle: TenantLifecycle, request: Omit<LifecycleRequest, 'idempotencyKey'>, check: string, body?: unknown) {
  return {
    options: {
      check,
      ...(body === undefined ? {} : { body }),
      authorize: async () => { await lifecycle.authorize(request) },
      event: { requestId: request.requestId, caller: request.caller.name, region: request.regionCode, action: request.action, tenant: request.tenantId, tenantHostname: request.tenantHostname }
    },
    work: async (idempotencyKey: string | undefined) => lifecycle.run({ ...request, idempotencyKey })
  }
}

/**
 * Qlik's Tenants API behind `/regions/{region}`: same paths, bodies and
 * answers, so @qlik/api pointed at `<broker>/regions/<region>` works as is.
 */
export const tenantRoutes: FastifyPluginAsyncZod<{ lifecycle: TenantLifecycle, idempotency: Idempotency }> = async (app, { lifecycle, idempotency }) => {
  app.post('/regions/:region/api/v1/tenants', {
    config: { authenticate: true },
    schema: {
      tags: TAGS,
      operationId: 'createTenant',
      summary: 'Create a tenant (register host of the region)',
      security: BEARER_SECURITY,
      params: RegionParamsSchema,
      headers: MutatingHeadersSchema,
      body: TenantCreationRequestSchema,
      response: { 201: TenantSchema, ...UPSTREAM_ERRORS, ...IDEMPOTENT_ERRORS }
    }
  }, async (request, reply) => {
    const { options, work } = keyedAction(lifecycle, {
      caller: callerOf(request),
      regionCode: request.params.region,
      action: 'tenants:create',
      method: 'POST',
      path: '/api/v1/tenants',
      headers: upstreamRequestHeaders(request.headers, request.id),
      body: request.body,
      requestId: request.id,
      logger: request.log,
      brokerOrigin: brokerOrigin(request)
    }, `Qlik may have created a tenant that the broker could not record (it is not in GET /regions/${request.params.region}/tenants): look for it in Qlik (the subscription's tenants in My Qlik) before creating another.`)
    return await sendAnswer(reply, await idempotency.respond(keyedRequestOf(request), options, work))
  })

  app.get('/regions/:region/api/v1/tenants/:tenantId', {
    config: { authenticate: true },
    schema: {
      tags: TAGS,
      operationId: 'getTenant',
      summary: 'Read a tenant (on the tenant\'s own host)',
      security: BEARER_SECURITY,
      params: TenantParamsSchema,
      headers: TenantHostHeadersSchema,
      response: { 200: TenantSchema, ...UPSTREAM_ERRORS }
    }
  }, async (request, reply) => sendCaptured(reply, await lifecycle.run({
    caller: callerOf(request),
    regionCode: request.params.region,
    action: 'tenants:read',
    tenantId: request.params.tenantId,
    tenantHostname: request.headers['qlik-tenant-hostname'],
    method: 'GET',
    path: `/api/v1/tenants/${request.params.tenantId}`,
    headers: upstreamRequestHeaders(request.headers, request.id),
    requestId: request.id,
    logger: request.log,
    brokerOrigin: brokerOrigin(request)
  })))

  app.patch('/regions/:region/api/v1/tenants/:tenantId', {
    config: { authenticate: true },
    schema: {
      tags: TAGS,
      operationId: 'patchTenant',
      summary: 'Rename a tenant, add an alias hostname, or change its flags (JSON Patch replace operations; on the tenant\'s own host)',
      security: BEARER_SECURITY,
      params: TenantParamsSchema,
      headers: PatchHeadersSchema,
      body: TenantPatchRequestSchema,
      response: { 204: z.undefined().describe('Patched.'), ...UPSTREAM_ERRORS, ...IDEMPOTENT_ERRORS }
    }
  }, async (request, reply) => {
    const { options, work } = keyedAction(lifecycle, {
      caller: callerOf(request),
      regionCode: request.params.region,
      action: 'tenants:update',
      tenantId: request.params.tenantId,
      tenantHostname: request.headers['qlik-tenant-hostname'],
      method: 'PATCH',
      path: `/api/v1/tenants/${request.params.tenantId}`,
      headers: upstreamRequestHeaders(request.headers, request.id),
      body: request.body,
      requestId: request.id,
      logger: request.log,
      brokerOrigin: brokerOrigin(request)
    }, checkTenant(request.params.region, request.params.tenantId, 'whether the change was made'))
    return await sendAnswer(reply, await idempotency.respond(keyedRequestOf(request), options, work))
  })

  // Deactivate and reactivate differ only in their action, body and answer.
  const statusActions = [
    { verb: 'deactivate', action: 'tenants:deactivate', operationId: 'deactivateTenant', summary: 'Deactivate a tenant (purged after purgeAfterDays)', body: TenantDeactivateRequestSchema, answer: TenantDeactivateResponseSchema },
    { verb: 'reactivate', action: 'tenants:reactivate', operationId: 'reactivateTenant', summary: 'Reactivate a deactivated tenant before it is purged', body: TenantReactivateRequestSchema, answer: TenantReactivateResponseSchema }
  ] as const
  for (const { verb, action, operationId, summary, body, answer } of statusActions) {
    app.post(`/regions/:region/api/v1/tenants/:tenantId/actions/${verb}`, {
      config: { authenticate: true },
      schema: {
        tags: TAGS,
        operationId,
        summary,
        security: BEARER_SECURITY,
        params: TenantParamsSchema,
        headers: ConfirmHostnameHeadersSchema,
        body: body.nullish(),
        response: { 200: answer, ...UPSTREAM_ERRORS, ...IDEMPOTENT_ERRORS }
      }
    }, async (request, reply) => {
      const { options, work } = keyedAction(lifecycle, {
        caller: callerOf(request),
        regionCode: request.params.region,
        action,
        tenantId: request.params.tenantId,
        method: 'POST',
        path: `/api/v1/tenants/${request.params.tenantId}/actions/${verb}`,
        headers: { ...upstreamRequestHeaders(request.headers, request.id), 'content-type': 'application/json' },
        body: request.body ?? {},
        requestId: request.id,
        logger: request.log,
        brokerOrigin: brokerOrigin(request)
      }, checkTenant(request.params.region, request.params.tenantId, 'its current status'), request.body ?? {})
      return await sendAnswer(reply, await idempotency.respond(keyedRequestOf(request), options, work))
    })
  }
}

/** How the caller reached the broker, for a redirect Qlik gives. */
function brokerOrigin (request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}
