import { z } from 'zod'
import { ProblemSchema } from '../routes/schemas.js'
import { MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency-key.js'

/** Documented on every mutating route; checked by parseIdempotencyKey, which says exactly what is wrong. */
export const IdempotencyKeyHeaderSchema = z.string().optional().describe(`IETF Idempotency-Key (1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable characters, bare or as a quoted string). The same key with the same request replays the first answer (header \`Idempotent-Replayed: true\`) and never acts twice; kept IDEMPOTENCY_RETENTION_SECONDS.`)

/** Statuses the Idempotency-Key adds to a route. */
export const IDEMPOTENT_ERRORS = {
  409: ProblemSchema.describe('QB_IDEMPOTENCY_IN_PROGRESS (retry after Retry-After), QB_IDEMPOTENCY_OUTCOME_UNKNOWN (Qlik never answered the first request: check, then use a new key) or QB_TENANT_DEACTIVATED.'),
  422: ProblemSchema.describe('QB_IDEMPOTENCY_MISMATCH: the key was used for a different request.')
} as const
