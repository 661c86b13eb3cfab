import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Context, Span } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isBrokerError } from '../http/broker-error.js'
import { createHostClassifier, upstreamOperation } from './metrics-labels.js'
import type { Tracing, TracingOptions, TracingSettings } from './tracing.js'

/** Probes and the scrape endpoint make no spans: they would drown the traces that matter. */
const UNTRACED_ROUTES = new Set(['/livez', '/readyz', '/metrics'])
const EXPORT_WARNING_INTERVAL_MS = 60_000

interface Inbound {
  span: Span
  context: Context
}

function markFailed (span: Span, error: unknown): void {
  span.setAttribute('error.type', errorType(error))
  span.setStatus({ code: SpanStatusCode.ERROR })
}

function errorType (error: unknown): string {
  if (isBrokerError(error)) return error.code
  return error instanceof Error ? error.name : 'error'
}

/** Logs failed exports (at most once a minute) instead of OpenTelemetry's silent global handler. */
function reportingFailures (exporter: SpanExporter, options: TracingOptions): SpanExporter {
  let lastWarning = 0
  return {
    export (spans: ReadableSpan[], done: (result: ExportResult) => void) {
      exporter.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS && Date.now() - lastWarning > EXPORT_WARNING_INTERVAL_MS) {
          lastWarning = Date.now()
          options.logger?.warn({ err: result.error?.message, spans: spans.length }, 'could not export spans to the OpenTelemetry collector')
        }
        done(result)
      })
    },
    shutdown: async () => { await exporter.shutdown() },
    forceFlush: async () => { await exporter.forceFlush?.() }
  }
}

/**
 * OpenTelemetry, loaded only when tracing is on. Nothing global is touched
 * (no global tracer provider, context manager or propagator): the broker
 * passes contexts explicitly, so several brokers (tests) or a host
 * application's own SDK do not interfere.
 */
export function createOtelTracing (settings: TracingSettings, options: TracingOptions): Tracing {
  const exporter = reportingFailures(options.exporter ?? new OTLPTraceExporter(settings.url === undefined ? {} : { url: settings.url }), options)
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [options.simpleProcessor === true ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)]
  })
  const tracer = provider.getTracer('qlik-broker')
  const contexts = new AsyncLocalStorageContextManager().enable()
  const propagator = new W3CTraceContextPropagator()
  const inbound = new WeakMap<FastifyRequest, Inbound>()

  function endInbound (request: FastifyRequest, status: number | undefined): void {
    const entry = inbound.get(request)
    if (entry === undefined) return
    inbound.delete(request)
    if (status === undefined) {
      entry.span.setStatus({ code: SpanStatusCode.ERROR, message: 'the caller went away' })
    } else {
      entry.span.setAttribute('http.response.status_code', status)
      if (status >= 500) entry.span.setStatus({ code: SpanStatusCode.ERROR })
    }
    entry.span.end()
  }

  async function httpPlugin (app: FastifyInstance): Promise<void> {
    // Handlers run inside the request's span, so tokens.get and the call to
    // Qlik become its children (async context follows the handler's awaits).
    app.addHook('onRoute', (route) => {
      if (UNTRACED_ROUTES.has(route.url)) return
      const handler = route.handler
      route.handler = function tracedHandler (request, reply) {
        const entry = inbound.get(request)
        if (entry === undefined) return handler.call(this, request, reply)
        return contexts.with(entry.context, () => handler.call(this, request, reply))
      }
    })
    app.addHook('onRequest', (request, _reply, done) => {
      const route = request.routeOptions.url
      if (route !== undefined && UNTRACED_ROUTES.has(route)) {
        done()
        return
      }
      // A caller's traceparent makes the broker's span its child.
      const parent = propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter)
      const span = tracer.startSpan(route === undefined ? request.method : `${request.method} ${route}`, {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          ...(route === undefined ? {} : { 'http.route': route }),
          'qlik_broker.request_id': request.id
        }
      }, parent)
      inbound.set(request, { span, context: trace.setSpan(parent, span) })
      done()
    })
    app.addHook('onError', (request, _reply, error, done) => {
      inbound.get(request)?.span.setAttribute('error.type', errorType(error))
      done()
    })
    app.addHook('onResponse', (request, reply, done) => {
      endInbound(request, reply.statusCode)
      done()
    })
    app.addHook('onRequestAbort', (request, done) => {
      endInbound(request, undefined)
      done()
    })
  }

  return {
    enabled: true,
    http: fp(httpPlugin, { name: 'qlik-broker-tracing', fastify: '5.x' }),

    traceUpstream (client, regions) {
      const classify = createHostClassifier(regions)
      return {
        async send (request) {
          const parent = contexts.active()
          const { region, hostKind } = classify(request.target.host)
          const operation = upstreamOperation(request.method, request.path)
          const span = tracer.startSpan(`qlik ${operation}`, {
            kind: SpanKind.CLIENT,
            attributes: {
              'http.request.method': request.method,
              'server.address': request.target.host,
              'qlik.region': region,
              'qlik.host_kind': hostKind,
              'qlik.operation': operation
            }
          }, parent)
          // Qlik gets this span's context, not the caller's traceparent.
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(request.headers)) {
            if (name !== 'traceparent' && name !== 'tracestate') headers[name] = value
          }
          propagator.inject(trace.setSpan(parent, span), headers, defaultTextMapSetter)
          try {
            const response = await client.send({ ...request, headers })
            span.setAttribute('http.response.status_code', response.statusCode)
            if (response.statusCode >= 400) span.setStatus({ code: SpanStatusCode.ERROR })
            return response
          } catch (error) {
            markFailed(span, error)
            throw error
          } finally {
            span.end()
          }
        },
        close: async () => { await client.close() }
      }
    },

    traceTokens (tokens, regions) {
      const classify = createHostClassifier(regions)
      return {
        ...tokens,
        async get (region, host, requestId) {
          const parent = contexts.active()
          const span = tracer.startSpan('tokens.get', {
            kind: SpanKind.INTERNAL,
            attributes: { 'qlik.region': region.code, 'qlik.host_kind': classify.kindIn(region.code, host) }
          }, parent)
          return await contexts.with(trace.setSpan(parent, span), async () => {
            try {
              return await tokens.get(region, host, requestId)
            } catch (error) {
              markFailed(span, error)
              throw error
            } finally {
              span.end()
            }
          })
        }
      }
    },

    flush: async () => { await provider.forceFlush() },

    async shutdown () {
      await provider.shutdown()
      contexts.disable()
    }
  }
}
