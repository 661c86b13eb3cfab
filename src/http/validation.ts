import type { FastifySchemaCompiler } from 'fastify'
import { validatorCompiler } from 'fastify-type-provider-zod'

type ZodValidatorCompiler = typeof validatorCompiler
type ZodSchema = Parameters<ZodValidatorCompiler>[0]['schema']

/**
 * fastify-type-provider-zod's validation, except that valid headers are not
 * handed back to Fastify when zod's answer holds the same values the request
 * has. Handing them back sets Fastify's `additionalHeaders`, after which every
 * read of `request.headers` (and of `request.host`, `request.protocol`, two
 * and one reads each) copies all the request's headers into a new object
 * (fastify/lib/request.js): four copies on a pass-through request, for
 * nothing, since the broker's header schemas check and never transform. A
 * schema that did transform a header would still have its value handed back.
 * Invalid input gives zod's error, as before.
 */
export const brokerValidatorCompiler: FastifySchemaCompiler<ZodSchema> = (route) => {
  const validate = validatorCompiler(route)
  if (route.httpPart !== 'headers') return validate
  return (data: Record<string, unknown>) => {
    const result = validate(data)
    if (typeof result !== 'object' || result === null || !('value' in result)) return result
    const value = result.value as Record<string, unknown>
    for (const name in value) {
      if (value[name] !== data[name]) return result
    }
    return true
  }
}
