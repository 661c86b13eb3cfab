import type { z } from 'zod'
import { E, qlikError } from './envelope.js'
import { parseJson, type SimResponse } from './http-utils.js'

/** Parses and validates a JSON body, or answers Qlik's 400 naming the first problem. */
export function validJsonBody<T> (body: Buffer, schema: z.ZodType<T>, what: string): { ok: true, data: T } | { ok: false, response: SimResponse } {
  const parsed = parseJson(body)
  if (!parsed.ok) return { ok: false, response: qlikError(400, E.badRequest, parsed.reason) }
  const result = schema.safeParse(parsed.value)
  if (result.success) return { ok: true, data: result.data }
  const issue = result.error.issues[0]
  return { ok: false, response: qlikError(400, E.badRequest, issue === undefined ? `Invalid ${what}` : `${issue.path.join('.')}: ${issue.message}`) }
}
