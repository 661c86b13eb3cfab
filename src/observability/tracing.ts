import type { SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config, RegionConfig } from '../config/load-config.js'
import type { UpstreamClient } from '../qlik/upstream-client.js'
import type { TokenProvider } from '../tokens/token-provider.js'
import type { Logger } from './logger.js'

/** Where spans go; `url` undefined means tracing is off. */
export interface TracingSettings {
  /** Full OTLP/HTTP URL spans are posted to (`…/v1/traces`). */
  url: string | undefined
  serviceName: string
}

/**
 * The broker's tracing: spans for each inbound request, each token fetch
 * (`tokens.get`) and each call to Qlik, whose W3C `traceparent` carries the
 * upstream span's context. When off, every method returns what it was given
 * and OpenTelemetry is never imported.
 */
export interface Tracing {
  readonly enabled: boolean
  /** Fastify hooks for the inbound span; register before the routes (it wraps their handlers). */
  readonly http: (app: FastifyInstance) => Promise<void>
  /** A client whose calls are CLIENT spans carrying their own `traceparent`. */
  traceUpstream (client: UpstreamClient, regions: readonly RegionConfig[]): UpstreamClient
  /** A provider whose `get` runs inside a `tokens.get` span. */
  traceTokens (tokens: TokenProvider, regions: readonly RegionConfig[]): TokenProvider
  /** Exports the spans ended so far. */
  flush (): Promise<void>
  /** Exports what is left and stops. */
  shutdown (): Promise<void>
}

export interface TracingOptions {
  /** Replaces the OTLP exporter (tests: an in-memory exporter); turns tracing on by itself. */
  exporter?: SpanExporter
  /** Spans are exported one by one as they end instead of in batches (tests). */
  simpleProcessor?: boolean
  logger?: Logger
}

export const TRACING_OFF: Tracing = {
  enabled: false,
  http: fp(async () => {}, { name: 'qlik-broker-tracing-off', fastify: '5.x' }),
  traceUpstream: (client) => client,
  traceTokens: (tokens) => tokens,
  flush: async () => {},
  shutdown: async () => {}
}

/**
 * Tracing is on when an OTLP endpoint is configured (the standard
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` +
 * `/v1/traces`) and `OTEL_SDK_DISABLED` is not `true`.
 */
export function tracingSettings (config: Config['tracing']): TracingSettings {
  const base = config.endpoint === undefined ? undefined : `${config.endpoint.replace(/\/+$/, '')}/v1/traces`
  return { url: config.sdkDisabled ? undefined : config.tracesEndpoint ?? base, serviceName: config.serviceName }
}

/** Off: TRACING_OFF, nothing loaded. On: the OpenTelemetry SDK, imported now and only now. */
export async function startTracing (settings: TracingSettings, options: TracingOptions = {}): Promise<Tracing> {
  if (settings.url === undefined && options.exporter === undefined) return TRACING_OFF
  const { createOtelTracing } = await import('./tracing-otel.js')
  return createOtelTracing(settings, options)
}
