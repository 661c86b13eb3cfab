import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'

/** A span as OTLP/HTTP JSON carries it, flattened: ids in hex, attributes as plain values. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  /** '' for a root span. */
  parentSpanId: string
  name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number
  attributes: Record<string, string | number | boolean>
  status: { code?: number }
  serviceName: string | undefined
}

interface OtlpValue { stringValue?: string, intValue?: string | number, boolValue?: boolean, doubleValue?: number }
interface OtlpAttribute { key: string, value: OtlpValue }
interface OtlpRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpAttribute[] }
    scopeSpans?: Array<{ spans?: Array<{ traceId: string, spanId: string, parentSpanId?: string, name: string, kind: number, attributes?: OtlpAttribute[], status?: { code?: number } }> }>
  }>
}

function plain (value: OtlpValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.boolValue !== undefined) return value.boolValue
  return value.doubleValue ?? ''
}

function attributes (list: OtlpAttribute[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((attribute) => [attribute.key, plain(attribute.value)]))
}

/** A local OpenTelemetry collector stand-in: accepts OTLP/HTTP JSON at /v1/traces and keeps every span and raw body. */
export async function startOtlpReceiver (): Promise<{ url: string, spans: ReceivedSpan[], bodies: string[], requests: Array<{ path: string, headers: IncomingHttpHeaders }>, close: () => Promise<void> }> {
  const spans: ReceivedSpan[] = []
  const bodies: string[] = []
  const requests: Array<{ path: string, headers: IncomingHttpHeaders }> = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    request.on('end', () => {
      requests.push({ path: request.url ?? '', headers: request.headers })
      const raw = Buffer.concat(chunks)
      const text = (request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8')
      bodies.push(text)
      if (request.url !== '/v1/traces' || request.headers['content-type'] !== 'application/json') {
        response.writeHead(415).end()
        return
      }
      const parsed = JSON.parse(text) as OtlpRequest
      for (const resourceSpans of parsed.resourceSpans ?? []) {
        const serviceName = attributes(resourceSpans.resource?.attributes)['service.name']
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              attributes: attributes(span.attributes),
              status: span.status ?? {},
              serviceName: typeof serviceName === 'string' ? serviceName : undefined
            })
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    bodies,
    requests,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}

interface Seen { method: string, url: string, headers: IncomingHttpHeaders }

/** A stand-in for Qlik that records what the broker sends: tokens from /oauth/token, `{"data":[]}` for anything else. */
export async function startRecordingQlik (): Promise<{ url: string, seen: Seen[], tokens: string[], close: () => Promise<void> }> {
  const seen: Seen[] = []
  const tokens: string[] = []
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers })
      if (request.url === '/oauth/token') {
        const token = `recorded-token-${tokens.length}-for-${request.headers.host ?? ''}`
        tokens.push(token)
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ access_token: token, token_type: 'bearer', expires_in: 21600 }))
        return
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}')
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    tokens,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}
