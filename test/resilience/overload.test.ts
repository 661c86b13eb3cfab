import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { declaredBodyBytes } from '../../src/http/overload.js'
import { scrape } from '../observability/prometheus-text.js'
import { bearer, http } from '../support/http.js'
import { startStack, type Stack } from '../support/stack.js'

/** Sends a request's headers and `sent` bytes of its body, and holds the rest back until `finish`. */
async function partialRequest (url: string, path: string, headers: Record<string, string>, declaredBytes: number, sent: number): Promise<{ finish: () => Promise<string> }> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  const head = [`POST ${path} HTTP/1.1`, `host: ${hostname}:${port}`, 'content-type: application/json', `content-length: ${declaredBytes}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), '', ''].join('\r\n')
  socket.write(head + ' '.repeat(sent))
  return {
    finish: async () => {
      socket.write(' '.repeat(declaredBytes - sent))
      while (!answer.includes('\r\n\r\n')) await once(socket, 'data')
      socket.destroy()
      return answer
    }
  }
}

async function overloadRejections (stack: Stack, reason: string): Promise<number> {
  const metrics = await scrape(stack.url)
  return metrics.series('qlik_broker_overload_rejected_total').find((entry) => entry.labels.reason === reason)?.value ?? Number.NaN
}

await describe('overload guard: past its limits the broker answers 503 at once instead of holding more', { timeout: 60_000 }, async () => {
  await it('refuses the request past BROKER_MAX_IN_FLIGHT_REQUESTS with a 503 problem, Retry-After and Connection: close; probes and /metrics still answer; the next request after the burst succeeds', async (t) => {
    const stack = await startStack(t, { env: { BROKER_MAX_IN_FLIGHT_REQUESTS: '2' } })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const path = `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users`
    const headers = bearer(stack.keys.admin)
    assert.equal((await http(stack.url, 'GET', path, { headers })).status, 200, 'a token in hand: the slow requests below wait on Qlik only')
    stack.simulator.setFaults({ latencyMs: 1500 })
    const slow = [http(stack.url, 'GET', path, { headers }), http(stack.url, 'GET', path, { headers })]
    await new Promise((resolve) => setTimeout(resolve, 300))

    const refused = await http(stack.url, 'GET', path, { headers })
    assert.equal(refused.status, 503)
    assert.match(String(refused.headers['content-type']), /^application\/problem\+json/)
    assert.equal(refused.headers['retry-after'], '1')
    assert.equal(refused.headers.connection, 'close')
    const problem = refused.json<{ code: string, status: number, detail: string, requestId: string }>()
    assert.equal(problem.code, 'QB_OVERLOADED')
    assert.equal(problem.status, 503)
    assert.match(problem.detail, /working on 2 requests/)
    assert.equal(problem.requestId, refused.headers['x-request-id'])
    // Refused before authentication: no caller is needed to be refused, and none is charged.
    assert.equal((await http(stack.url, 'GET', path)).status, 503)

    assert.equal((await http(stack.url, 'GET', '/livez')).status, 200, 'liveness never refused: a busy replica is not a dead one')
    assert.equal((await http(stack.url, 'GET', '/readyz')).status, 200)
    const metrics = await scrape(stack.url)
    assert.equal(metrics.series('qlik_broker_overload_rejected_total').find((entry) => entry.labels.reason === 'requests')?.value, 2)
    assert.equal(metrics.series('qlik_broker_in_flight_requests')[0]?.value, 3, 'the two slow requests and the scrape itself')
    assert.equal(metrics.series('qlik_broker_overload_limit').find((entry) => entry.labels.limit === 'requests')?.value, 2)
    assert.ok(stack.logs.lines.some((line) => line.includes('overloaded: refusing requests')), 'one warning for the overload')

    assert.deepEqual((await Promise.all(slow)).map((answer) => answer.status), [200, 200])
    stack.simulator.clearFaults()
    assert.equal((await http(stack.url, 'GET', path, { headers })).status, 200, 'the slots are free again')
    assert.equal((await scrape(stack.url)).series('qlik_broker_in_flight_requests')[0]?.value, 1, 'only the scrape')
  })

  await it('frees the slot of a request whose caller went away', async (t) => {
    const stack = await startStack(t, { env: { BROKER_MAX_IN_FLIGHT_REQUESTS: '1' } })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const path = `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users`
    const headers = bearer(stack.keys.admin)
    assert.equal((await http(stack.url, 'GET', path, { headers })).status, 200)
    stack.simulator.setFaults({ latencyMs: 800 })
    const abandoned = new AbortController()
    const gone = fetch(`${stack.url}${path}`, { headers, signal: abandoned.signal }).catch(() => 'aborted')
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal((await http(stack.url, 'GET', path, { headers })).status, 503)
    abandoned.abort()
    assert.equal(await gone, 'aborted')
    await new Promise((resolve) => setTimeout(resolve, 100))
    stack.simulator.clearFaults()
    assert.equal((await http(stack.url, 'GET', path, { headers })).status, 200, 'the abandoned request no longer counts')
  })

  await it('refuses a request body past BROKER_MAX_IN_FLIGHT_BODY_BYTES while another body is being received', async (t) => {
    const stack = await startStack(t, { env: { BROKER_BODY_LIMIT_BYTES: '4096', BROKER_MAX_IN_FLIGHT_BODY_BYTES: '6000' } })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const path = `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users`
    const headers = bearer(stack.keys.admin)
    // 4,000 bytes declared, 10 sent: the broker holds its share until the body is in and answered.
    const held = await partialRequest(stack.url, path, headers, 4000, 10)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const refused = await http(stack.url, 'POST', path, { headers, body: { name: 'x'.repeat(2500) } })
    assert.equal(refused.status, 503)
    assert.equal(refused.json<{ code: string }>().code, 'QB_OVERLOADED')
    assert.match(refused.json<{ detail: string }>().detail, /bytes of request bodies/)
    assert.equal(await overloadRejections(stack, 'body_bytes'), 1)
    assert.equal(await overloadRejections(stack, 'requests'), 0)
    // A small body still fits beside the held one; a request without a body is never refused for bytes.
    assert.notEqual((await http(stack.url, 'POST', path, { headers, body: {} })).status, 503)
    assert.equal((await http(stack.url, 'GET', path, { headers })).status, 200)
    assert.match(await held.finish(), /^HTTP\/1\.1 \d{3}/)
    assert.notEqual((await http(stack.url, 'POST', path, { headers, body: { name: 'x'.repeat(2500) } })).status, 503, 'the held body is released')
  })

  await it('closes the connections past BROKER_MAX_CONNECTIONS as soon as they are accepted, and counts them', async (t) => {
    const stack = await startStack(t, { env: { BROKER_MAX_CONNECTIONS: '2' } })
    const { hostname, port } = new URL(stack.url)
    const open = async (): Promise<Socket> => {
      const socket = connect(Number(port), hostname)
      await once(socket, 'connect')
      return socket
    }
    const held = [await open(), await open()]
    t.after(() => { for (const socket of held) socket.destroy() })
    const third = await open()
    const closedAt = await Promise.race([once(third, 'close').then(() => 'closed'), new Promise((resolve) => setTimeout(() => { resolve('open') }, 2000))])
    third.destroy()
    assert.equal(closedAt, 'closed', 'the third connection is closed by the broker')
    for (const socket of held) socket.destroy()
    await new Promise((resolve) => setTimeout(resolve, 100))
    const metrics = await scrape(stack.url)
    assert.equal(metrics.series('qlik_broker_connections_dropped_total')[0]?.value, 1)
    assert.equal(metrics.series('qlik_broker_overload_limit').find((entry) => entry.labels.limit === 'connections')?.value, 2)
  })

  await it('counts a body by its Content-Length, a chunked one as the body limit', () => {
    assert.equal(declaredBodyBytes({}, 1000), 0)
    assert.equal(declaredBodyBytes({ 'content-length': '0' }, 1000), 0)
    assert.equal(declaredBodyBytes({ 'content-length': '250' }, 1000), 250)
    assert.equal(declaredBodyBytes({ 'content-length': '5000' }, 1000), 1000, 'more than the limit is refused with 413 later; it holds at most the limit')
    assert.equal(declaredBodyBytes({ 'transfer-encoding': 'chunked' }, 1000), 1000)
    assert.equal(declaredBodyBytes({ 'content-length': 'abc' }, 1000), 1000)
  })
})
