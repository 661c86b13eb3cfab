import closeWithGrace from 'close-with-grace'
import { pino, type Logger as PinoLogger } from 'pino'
import { buildApp } from './app.js'
import type { Config } from './config/load-config.js'
import { createDependencies, type Dependencies, type DependencyOverrides } from './dependencies.js'
import { createLogDestination, type LogDestination } from './observability/log-destination.js'
import { loggerOptions } from './observability/logger.js'
import { describeMemory, watchMemory } from './observability/memory.js'
import { startTracing, tracingSettings } from './observability/tracing.js'

export interface RunningBroker {
  url: string
  deps: Dependencies
  close (): Promise<void>
}

/**
 * Starts the broker: dependencies, app, listen, and a SIGTERM/SIGINT drain
 * (readiness fails first, in-flight requests finish, clients close).
 */
export interface StartOptions extends DependencyOverrides {
  /** Install SIGTERM/SIGINT handling (default true; tests run several brokers in one process). */
  handleSignals?: boolean
  logger?: PinoLogger
}

export async function startBroker (config: Config, overrides: StartOptions = {}): Promise<RunningBroker> {
  const destination: LogDestination | undefined = overrides.logger === undefined ? createLogDestination({ maxBufferBytes: config.server.logBufferBytes }) : undefined
  // What is still waiting when the process ends (close-with-grace exits after the drain, a fatal error exits at once).
  if (destination !== undefined) process.once('exit', destination.stream.flushSync)
  const logger = overrides.logger ?? pino(loggerOptions(config.server.logLevel), destination?.stream)
  // OpenTelemetry is imported here only when tracing is on.
  const tracing = overrides.tracing ?? await startTracing(tracingSettings(config.tracing), { logger: logger.child({ module: 'tracing' }) })
  const deps = createDependencies(config, logger, { ...overrides, tracing })
  const memory = describeMemory()
  // What this process may use and how its heap is sized (NODE_OPTIONS, or Node's default from the container's limit).
  logger[memory.warning === undefined ? 'info' : 'warn'](memory, memory.warning ?? 'memory limits')
  watchMemory(deps.metrics.registry, memory, destination)
  const app = await buildApp(deps, { logger })
  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      await app.close()
      await deps.close()
    })()
    return closing
  }
  if (overrides.handleSignals !== false) {
    closeWithGrace({ delay: config.server.shutdownGraceMs, logger }, async ({ signal, err }) => {
      if (err !== undefined) logger.error({ err }, 'shutting down after an unexpected error')
      else logger.info({ signal }, 'shutting down: draining in-flight requests')
      await close()
    })
  }
  const url = await app.listen({ host: config.server.host, port: config.server.port })
  await deps.warmUp()
  return { url, deps, close }
}
