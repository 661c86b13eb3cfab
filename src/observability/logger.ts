import type { FastifyBaseLogger } from 'fastify'
import type { LoggerOptions } from 'pino'

export type Logger = FastifyBaseLogger

/**
 * Paths pino blanks out. Only exact paths: a wildcard (`*.token`) makes pino
 * copy and walk every object on every log line, which cost about a sixth of
 * the broker's CPU per request (docs/benchmarks.md). Secrets and tokens are
 * `Sealed` values that print `[redacted]` wherever they go, which is the
 * real protection; these paths cover headers and the names used at the top
 * of a log object.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-vault-token"]',
  'headers.authorization',
  'authorization',
  'access_token',
  'accessToken',
  'client_secret',
  'clientSecret',
  'secret_id',
  'secretId',
  'token',
  'jwt',
  'password',
  'apiKey'
]

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'qlik-broker' },
    messageKey: 'msg',
    formatters: {
      level: (label) => ({ level: label })
    }
  }
}
