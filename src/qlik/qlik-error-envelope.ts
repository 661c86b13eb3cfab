import { z } from 'zod'

const QlikErrorSchema = z.object({
  code: z.string().optional(),
  title: z.string().optional(),
  detail: z.string().optional(),
  status: z.union([z.string(), z.number()]).optional()
})

const EnvelopeSchema = z.object({
  errors: z.array(QlikErrorSchema),
  traceId: z.string().optional()
})

export interface QlikErrorSummary {
  codes: string[]
  traceId: string | undefined
}

/** Reads Qlik's `{errors:[{code,title,...}],traceId}` envelope, tolerating anything else. */
export function readQlikErrors (body: string): QlikErrorSummary {
  try {
    const parsed = EnvelopeSchema.safeParse(JSON.parse(body))
    if (parsed.success) {
      return { codes: parsed.data.errors.flatMap((error) => error.code === undefined ? [] : [error.code]), traceId: parsed.data.traceId }
    }
  } catch {}
  return { codes: [], traceId: undefined }
}
