import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { bearer, http } from '../support/http.js'
import { startStack } from '../support/stack.js'

interface Seen { method: string, url: string, headers: IncomingHttpHeaders, body: string }

/** A stand-in for Qlik that records exactly what the broker sends. */
async function startRecordingQlik (): Promise<{ url: string, seen: Seen[], close: () => Promise<void> }> {
  const seen: Seen[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => { body += chunk.toString() })
    request.on('end', () => {
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body })
      if (request.url === '/oauth/token') {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ access_token: `recorded-token-for-${request.headers.host ?? ''}`, token_type: 'bearer', expires_in: 21600 }))
        return
      }
      response.writeHead(429, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '7', etag: '"v1"', 'set-cookie': 'session=x', 'x-internal-debug': 'no' })
      response.end(JSON.stringify({ errors: [{ code: 'HTTP-429', title: 'API rate limit reached.' }] }))
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: async () => { await new Promise((resolve) => server.close(resolve)) }
  }
}

await describe('what travels to Qlik and back', async () => {
  await it('sends the Qlik host, a Qlik token, the request id and Qlik headers; returns status, body and useful headers', async (t) => {
    const qlik = await startRecordingQlik()
    t.after(qlik.close)
    // Qlik's Retry-After (7 s) is beyond the longest the broker waits (2 s), so
    // it hands Qlik's 429 back at once instead of retrying it 3 times 7 s apart.
    const stack = await startStack(t, { env: { QLIK_UPSTREAM_ORIGIN: qlik.url, QLIK_BUDGET_MAX_WAIT_MS: '2000' } })
    const result = await http(stack.url, 'POST', '/regions/eu/tenants/acme.eu.qlikcloud.com/api/v1/spaces?x=1', {
      headers: { ...bearer(stack.keys.admin), 'x-request-id': 'trace-me-42', 'qlik-api-version': '2025-01', cookie: 'caller=secret', 'content-type': 'application/json' },
      body: '{"name":"s","type":"shared"}'
    })

    assert.equal(result.status, 429)
    assert.equal(result.headers['retry-after'], '7')
    assert.equal(result.headers.etag, '"v1"')
    assert.equal(result.headers['set-cookie'], undefined, 'Qlik cookies stay with the broker')
    assert.equal(result.headers['x-internal-debug'], undefined)
    assert.deepEqual(result.json(), { errors: [{ code: 'HTTP-429', title: 'API rate limit reached.' }] })

    assert.equal(qlik.seen.length, 2, 'one mint, one call: a 429 asking for longer than the broker waits is not retried')
    const [mint, call] = qlik.seen
    assert.equal(mint?.url, '/oauth/token')
    assert.equal(mint?.headers.host, 'acme.eu.qlikcloud.com', 'the token is minted on the tenant host itself')
    assert.equal(JSON.parse(mint?.body ?? '{}').grant_type, 'client_credentials')
    assert.equal(call?.url, '/api/v1/spaces?x=1')
    assert.equal(call?.headers.host, 'acme.eu.qlikcloud.com')
    assert.equal(call?.headers.authorization, 'Bearer recorded-token-for-acme.eu.qlikcloud.com', 'the Qlik token, never the caller\'s key')
    assert.equal(call?.headers['x-request-id'], result.headers['x-request-id'], 'the broker\'s own request id, which finds the call in its logs')
    assert.equal(call?.headers['qlik-api-version'], '2025-01')
    assert.equal(call?.headers.cookie, undefined)
    assert.equal(call?.body, '{"name":"s","type":"shared"}', 'the body travels byte for byte')
  })

  await it('sends a small answer of known length in one piece with its length, and streams a large or unsized one intact', async (t) => {
    const large = Buffer.alloc(300 * 1024, 'q')
    const qlik = createServer((request, response) => {
      if (request.url === '/oauth/token') {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ access_token: 'answer-size-token', token_type: 'bearer', expires_in: 21600 }))
        return
      }
      if (request.url === '/api/v1/small') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '11' })
        response.end('{"ok":true}')
        return
      }
      response.writeHead(200, { 'content-type': 'application/octet-stream' })
      // Sent in pieces without a length, as a chunked answer from Qlik would be.
      for (let offset = 0; offset < large.length; offset += 64 * 1024) response.write(large.subarray(offset, offset + 64 * 1024))
      response.end()
    })
    await new Promise<void>((resolve) => { qlik.listen(0, '127.0.0.1', resolve) })
    t.after(async () => { await new Promise((resolve) => qlik.close(resolve)) })
    const stack = await startStack(t, { env: { QLIK_UPSTREAM_ORIGIN: `http://127.0.0.1:${(qlik.address() as AddressInfo).port}` } })

    const small = await http(stack.url, 'GET', '/regions/eu/tenants/acme.eu.qlikcloud.com/api/v1/small', { headers: bearer(stack.keys.admin) })
    assert.equal(small.status, 200)
    assert.equal(small.text, '{"ok":true}')
    assert.equal(small.headers['content-length'], '11')
    assert.equal(small.headers['transfer-encoding'], undefined)

    const big = await http(stack.url, 'GET', '/regions/eu/tenants/acme.eu.qlikcloud.com/api/v1/large', { headers: bearer(stack.keys.admin) })
    assert.equal(big.status, 200)
    assert.equal(big.headers['transfer-encoding'], 'chunked', 'streamed, not held in memory')
    assert.equal(big.text.length, large.length)
    assert.ok(big.text === large.toString(), 'byte for byte')
  })
})
