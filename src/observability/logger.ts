import type { FastifyBaseLogger } from 'fastify'
import { pino, type DestinationStream, type LoggerOptions } from 'pino'

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

export interface LogDestination {
  stream: DestinationStream
  /** Lines dropped so far because LOG_BUFFER_MAX_BYTES were waiting for the reader. */
  droppedLines (): number
}

/**
 * stdout (or another descriptor), written asynchronously: a synchronous
 * write blocks the event loop whenever the reader (container runtime, file
 * system) is slow, which showed in the p99 at 1,000 req/s
 * (docs/benchmarks.md). Lines written while one write is in flight go out
 * together; pino flushes what is left on exit.
 *
 * What waits is bounded: when the reader falls behind by `maxBufferBytes`,
 * new lines are dropped and counted instead of held, so a stalled log
 * pipeline cannot grow the heap until the container is OOM-killed
 * (sonic-boom's `maxLength`, which emits 'drop' with the line; the line is
 * only counted, never looked at).
 */
export function boundedLogDestination (maxBufferBytes: number, fd = 1): LogDestination {
  const stream = pino.destination({ dest: fd, sync: false, maxLength: maxBufferBytes })
  let dropped = 0
  stream.on('drop', () => { dropped++ })
  return { stream, droppedLines: () => dropped }
}
