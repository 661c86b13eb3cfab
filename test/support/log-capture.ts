import { pino, type Logger } from 'pino'
import { loggerOptions } from '../../src/observability/logger.js'

export interface CapturedLogs {
  logger: Logger
  lines: string[]
  text (): string
}

/** The broker's real logger configuration (redaction included), writing into memory. */
export function captureLogs (level = 'debug'): CapturedLogs {
  const lines: string[] = []
  const logger = pino(loggerOptions(level), { write: (line: string) => { lines.push(line) } })
  return { logger, lines, text: () => lines.join('') }
}
