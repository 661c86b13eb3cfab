import { z } from 'zod'

/**
 * Qlik's Tenants API bodies (reference §3), checked before anything goes
 * upstream. Strict objects: a misspelt field is a caller bug, better refused
 * here than silently ignored by Qlik.
 */
export const TenantCreationRequestSchema = z.strictObject({
  licenseKey: z.string().min(1).optional().describe('Signed license key, from GET /api/v1/licenses/overview on an existing tenant of the subscription.'),
  datacenter: z.string().min(1).optional().describe('AWS datacenter, e.g. eu-west-1. Best omitted: the region\'s register host decides.')
}).meta({ id: 'TenantCreationRequest' })

const STRING_PATHS = ['/name', '/hostnames/1'] as const
const BOOLEAN_PATHS = [
  '/autoAssignCreateSharedSpacesRoleToProfessionals',
  '/autoAssignPrivateAnalyticsContentCreatorRoleToProfessionals',
  '/autoAssignDataServicesContributorRoleToProfessionals',
  '/enableAnalyticCreation',
  '/enableAppOpeningFeedback'
] as const

export const TenantPatchOperationSchema = z.discriminatedUnion('path', [
  z.strictObject({ op: z.literal('replace'), path: z.enum(STRING_PATHS), value: z.string().min(1) }),
  z.strictObject({ op: z.literal('replace'), path: z.enum(BOOLEAN_PATHS), value: z.boolean() })
])

export const TenantPatchRequestSchema = z.array(TenantPatchOperationSchema).min(1).max(20).meta({ id: 'TenantPatchRequest' })

export const TenantDeactivateRequestSchema = z.strictObject({
  purgeAfterDays: z.int().min(10).max(90).optional().describe('Days until the tenant is purged, 10 to 90 (default 30). Only available to OEMs.')
}).meta({ id: 'TenantDeactivateRequest' })

export const TenantReactivateRequestSchema = z.strictObject({}).meta({ id: 'TenantReactivateRequest' })

export const TenantSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  hostnames: z.array(z.string()),
  region: z.string().optional(),
  datacenter: z.string().optional(),
  status: z.enum(['active', 'disabled', 'deleted', 'user-access-disabled']),
  statusLastUpdatedAt: z.string().optional(),
  created: z.string().optional(),
  lastUpdated: z.string().optional(),
  createdByUser: z.string().optional(),
  links: z.object({ self: z.object({ href: z.string() }) }).optional(),
  autoAssignCreateSharedSpacesRoleToProfessionals: z.boolean().optional(),
  autoAssignPrivateAnalyticsContentCreatorRoleToProfessionals: z.boolean().optional(),
  autoAssignDataServicesContributorRoleToProfessionals: z.boolean().optional(),
  enableAnalyticCreation: z.boolean().optional(),
  enableAppOpeningFeedback: z.boolean().optional()
}).meta({ id: 'Tenant', description: 'As Qlik returns it.' })

export const TenantDeactivateResponseSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  estimatedPurgeDate: z.string().optional()
}).meta({ id: 'TenantDeactivateResponse' })

export const TenantReactivateResponseSchema = z.looseObject({
  id: z.string().optional(),
  status: z.string().optional()
}).meta({ id: 'TenantReactivateResponse' })

export const QlikErrorsSchema = z.looseObject({
  errors: z.array(z.looseObject({
    code: z.string(),
    title: z.string(),
    detail: z.string().optional(),
    status: z.string().optional()
  })),
  traceId: z.string().optional()
}).meta({ id: 'QlikErrors', description: 'Qlik\'s own error envelope, passed through as Qlik sent it.' })
