import type { FastifyBaseLogger } from 'fastify'
import type { LoggerOptions } from 'pino'

export type Logger = FastifyBaseLogger

/**
 * Paths pino blanks out wherever they appear in a log object. The broker
 * also wraps secrets in `Sealed` values that print `[redacted]`; this is the
 * second line of defence for anything that slips through as a plain string.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-vault-token"]',
  'headers.authorization',
  '*.authorization',
  '*.access_token',
  '*.accessToken',
  '*.client_secret',
  '*.clientSecret',
  '*.secret_id',
  '*.secretId',
  '*.token',
  '*.jwt',
  '*.password',
  '*.apiKey'
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
