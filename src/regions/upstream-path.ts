import { BrokerError } from '../http/broker-error.js'

const ALLOWED_PATH = /^\/api\/v1(\/[A-Za-z0-9\-._~!$&'()*+,=:@%]+)*\/?$/
const FORBIDDEN_ENCODINGS = /%(2f|5c|2e|00|25)/i
/** A `.` or `..` segment; ALLOWED_PATH already refuses empty segments (`//`), its segments being one character or more. */
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/

/**
 * Checks the path a caller wants on a tenant host. The raw (undecoded) path
 * is what Qlik would see, so encoded slashes, backslashes, dot segments and
 * double slashes are refused rather than normalised: a caller must not reach
 * outside `/api/v1` or past what its grant names.
 */
export function checkUpstreamPath (rawPath: string): string {
  const problem = !ALLOWED_PATH.test(rawPath)
    ? 'contains characters not allowed in a path'
    : FORBIDDEN_ENCODINGS.test(rawPath)
      ? 'contains an encoded slash, backslash, dot, percent or NUL'
      : DOT_SEGMENT.test(rawPath)
        ? 'contains "." or ".." segments or an empty segment'
        : undefined
  if (problem !== undefined) {
    throw new BrokerError('QB_INVALID_PATH', `the Qlik path ${problem}`, { issues: [{ pointer: '/params/*', message: problem }] })
  }
  return rawPath
}
