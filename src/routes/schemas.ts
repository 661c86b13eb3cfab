import { z } from 'zod'

export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  code: z.string().describe('Stable broker error code, e.g. QB_FORBIDDEN.'),
  requestId: z.string(),
  errors: z.array(z.object({
    code: z.string(),
    title: z.string(),
    detail: z.string().optional(),
    status: z.string(),
    source: z.object({ pointer: z.string() }).optional()
  })).describe('The same error in Qlik\'s envelope, one entry per problem.'),
  traceId: z.string()
}).meta({ id: 'Problem', description: 'The broker\'s own errors: RFC 9457 problem details plus Qlik\'s `errors[]` envelope.' })

export const RegionParamsSchema = z.object({
  region: z.string().describe('Region code, e.g. eu.')
})

/** Error statuses every authenticated route can answer with the broker's own problem. */
export const AUTHENTICATED_ERRORS = {
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  502: ProblemSchema,
  503: ProblemSchema.describe('The broker or Qlik cannot take the request now; send it again after Retry-After. QB_OVERLOADED: this replica is at its limit of requests (or request-body bytes) in flight and refused it at once, with `Connection: close`; another replica may take it. Also QB_SHUTTING_DOWN, QB_CREDENTIALS_UNAVAILABLE, QB_UPSTREAM_RATE_LIMITED, QB_UPSTREAM_UNAVAILABLE and the route\'s own.'),
  504: ProblemSchema
} as const

export const BEARER_SECURITY = [{ brokerCredential: [] }]
