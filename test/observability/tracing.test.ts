import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { TRACING_OFF } from '../../src/observability/tracing.js'
import { bearer, http } from '../support/http.js'
import { assertNoLeak } from '../support/leaks.js'
import { startStack, type Stack } from '../support/stack.js'
import { startOtlpReceiver, startRecordingQlik, type ReceivedSpan } from './otlp-receiver.js'

const ROUTE = '/regions/:region/tenants/:tenant/api/v1/*'
const PATH = '/regions/eu/tenants/acme.eu.qlikcloud.com/api/v1/users?limit=1'
const SERVER = 2
const CLIENT = 3
const INTERNAL = 1
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/

async function tracedStack (t: TestContext, env: Record<string, string> = {}): Promise<{ stack: Stack, receiver: Awaited<ReturnType<typeof startOtlpReceiver>>, qlik: Awaited<ReturnType<typeof startRecordingQlik>> }> {
  const receiver = await startOtlpReceiver()
  const qlik = await startRecordingQlik()
  t.after(async () => {
    await qlik.close()
    await receiver.close()
  })
  const stack = await startStack(t, { env: { QLIK_UPSTREAM_ORIGIN: qlik.url, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...env } })
  return { stack, receiver, qlik }
}

function only (spans: ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((span) => span.name === name)
  assert.equal(found.length, 1, `one span named "${name}" (got ${spans.map((span) => span.name).join(', ')})`)
  return found[0] as ReceivedSpan
}

function traceparentOf (headers: Record<string, string | string[] | undefined>): { traceId: string, spanId: string } {
  const match = TRACEPARENT.exec(String(headers.traceparent))
  assert.ok(match, `a W3C traceparent: ${String(headers.traceparent)}`)
  return { traceId: match[1] ?? '', spanId: match[2] ?? '' }
}

// A hung request fails the test instead of hanging the run.
await describe('tracing', { timeout: 60_000 }, async () => {
  await it('exports the request, tokens.get and upstream spans as parent and children, and Qlik gets the upstream span\'s traceparent', async (t) => {
    const { stack, receiver, qlik } = await tracedStack(t)
    assert.equal(stack.broker.deps.tracing.enabled, true)
    const response = await http(stack.url, 'GET', PATH, { headers: bearer(stack.keys.admin) })
    assert.equal(response.status, 200, response.text)
    await stack.broker.deps.tracing.flush()

    assert.equal(receiver.spans.length, 4, receiver.spans.map((span) => span.name).join(', '))
    const server = only(receiver.spans, `GET ${ROUTE}`)
    const tokens = only(receiver.spans, 'tokens.get')
    const mint = only(receiver.spans, 'qlik token')
    const call = only(receiver.spans, 'qlik tenant-api')

    assert.equal(server.parentSpanId, '', 'the request span is the root without a caller traceparent')
    assert.equal(tokens.parentSpanId, server.spanId, 'tokens.get is a child of the request')
    assert.equal(mint.parentSpanId, tokens.spanId, 'the mint is a child of tokens.get')
    assert.equal(call.parentSpanId, server.spanId, 'the Qlik call is a child of the request')
    for (const span of [tokens, mint, call]) assert.equal(span.traceId, server.traceId)
    assert.deepEqual([server.kind, tokens.kind, mint.kind, call.kind], [SERVER, INTERNAL, CLIENT, CLIENT])
    assert.equal(server.serviceName, 'qlik-broker')
    assert.equal(server.attributes['http.route'], ROUTE)
    assert.equal(server.attributes['http.response.status_code'], 200)
    assert.deepEqual({ region: call.attributes['qlik.region'], kind: call.attributes['qlik.host_kind'], operation: call.attributes['qlik.operation'], status: call.attributes['http.response.status_code'] }, { region: 'eu', kind: 'tenant', operation: 'tenant-api', status: 200 })
    assert.deepEqual({ region: tokens.attributes['qlik.region'], kind: tokens.attributes['qlik.host_kind'] }, { region: 'eu', kind: 'tenant' })
    assert.equal(receiver.requests[0]?.path, '/v1/traces', 'OTLP over HTTP at <endpoint>/v1/traces')

    const [tokenRequest, apiRequest] = qlik.seen
    assert.equal(tokenRequest?.url, '/oauth/token')
    assert.equal(apiRequest?.url, '/api/v1/users?limit=1')
    assert.deepEqual(traceparentOf(apiRequest?.headers ?? {}), { traceId: server.traceId, spanId: call.spanId }, 'Qlik sees the upstream span as its parent')
    assert.deepEqual(traceparentOf(tokenRequest?.headers ?? {}), { traceId: server.traceId, spanId: mint.spanId })

    assertNoLeak({ spans: receiver.bodies.join('\n') }, [...stack.secrets, ...qlik.tokens, ...Object.values(stack.keys)])
  })

  await it('continues a caller\'s trace, and the next request with a cached token has no mint span', async (t) => {
    const { stack, receiver, qlik } = await tracedStack(t, { OTEL_SERVICE_NAME: 'qb-test' })
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736'
    const callerSpan = '00f067aa0ba902b7'
    const headers = { ...bearer(stack.keys.admin), traceparent: `00-${callerTrace}-${callerSpan}-01`, tracestate: 'vendor=abc' }
    assert.equal((await http(stack.url, 'GET', PATH, { headers })).status, 200)
    assert.equal((await http(stack.url, 'GET', PATH, { headers })).status, 200)
    await stack.broker.deps.tracing.flush()

    const servers = receiver.spans.filter((span) => span.kind === SERVER)
    assert.equal(servers.length, 2)
    for (const server of servers) {
      assert.equal(server.traceId, callerTrace, 'the broker joins the caller\'s trace')
      assert.equal(server.parentSpanId, callerSpan)
      assert.equal(server.serviceName, 'qb-test')
    }
    const second = servers[1] as ReceivedSpan
    const children = receiver.spans.filter((span) => span.parentSpanId === second.spanId).map((span) => span.name).sort()
    assert.deepEqual(children, ['qlik tenant-api', 'tokens.get'], 'a cached token: no call to /oauth/token')
    assert.equal(receiver.spans.filter((span) => span.name === 'qlik token').length, 1)

    const calls = qlik.seen.filter((seen) => seen.url.startsWith('/api/'))
    assert.equal(calls.length, 2)
    for (const call of calls) {
      const parent = traceparentOf(call.headers)
      assert.equal(parent.traceId, callerTrace)
      assert.notEqual(parent.spanId, callerSpan, 'not the caller\'s traceparent: the broker\'s own upstream span')
      assert.ok(receiver.spans.some((span) => span.spanId === parent.spanId && span.name === 'qlik tenant-api'))
      assert.equal(call.headers.tracestate, 'vendor=abc', 'the caller\'s tracestate travels on')
    }
  })

  await it('is off with OTEL_SDK_DISABLED=true even with an endpoint: nothing exported, the caller\'s traceparent reaches Qlik unchanged', async (t) => {
    const { stack, receiver, qlik } = await tracedStack(t, { OTEL_SDK_DISABLED: 'true' })
    assert.equal(stack.broker.deps.tracing, TRACING_OFF)
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    assert.equal((await http(stack.url, 'GET', PATH, { headers: { ...bearer(stack.keys.admin), traceparent } })).status, 200)
    assert.equal((await http(stack.url, 'GET', PATH, { headers: bearer(stack.keys.admin) })).status, 200)
    await stack.broker.close()
    await sleep(50)
    assert.equal(receiver.requests.length, 0, 'no export at all')
    const calls = qlik.seen.filter((seen) => seen.url.startsWith('/api/'))
    assert.equal(calls[0]?.headers.traceparent, traceparent, 'forwarded as the caller sent it')
    assert.equal(calls[1]?.headers.traceparent, undefined, 'no traceparent made up')
    assert.equal(qlik.seen.find((seen) => seen.url === '/oauth/token')?.headers.traceparent, undefined)
  })

  await it('is off without an endpoint (the default)', async (t) => {
    const stack = await startStack(t)
    assert.equal(stack.broker.deps.tracing, TRACING_OFF)
    assert.equal(stack.broker.deps.config.tracing.endpoint, undefined)
  })
})
