import type { BrokerError } from './broker-error.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'

export interface QlikStyleError {
  code: string
  title: string
  detail?: string
  status: string
  source?: { pointer: string }
}

/**
 * RFC 9457 problem details that also carry Qlik's `errors[]` envelope, so a
 * client written against Qlik (or @qlik/api, which reads `errors`) and a
 * generic problem+json client both understand the broker's own errors.
 */
export interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  code: string
  requestId: string
  errors: QlikStyleError[]
  traceId: string
}

export function problemType (code: string): string {
  return `urn:qlik-broker:problem:${code.replace(/^QB_/, '').toLowerCase().replaceAll('_', '-')}`
}

export function toProblem (error: BrokerError, requestId: string): ProblemBody {
  const status = String(error.statusCode)
  const errors: QlikStyleError[] = error.issues.length > 0
    ? error.issues.map((issue) => ({ code: error.code, title: error.title, detail: issue.message, status, source: { pointer: issue.pointer } }))
    : [{ code: error.code, title: error.title, detail: error.message, status }]
  return {
    type: problemType(error.code),
    title: error.title,
    status: error.statusCode,
    detail: error.message,
    code: error.code,
    requestId,
    errors,
    traceId: requestId
  }
}
