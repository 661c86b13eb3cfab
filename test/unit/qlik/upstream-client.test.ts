import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { after, before, beforeEach, describe, it } from 'node:test'
import type { Dispatcher } from 'undici'
import { captureUpstream } from '../../../src/idempotency/captured-answer.js'
import { UpstreamBody } from '../../../src/qlik/upstream-body.js'
import { createUpstreamClient, type UpstreamClient } from '../../../src/qlik/upstream-client.js'
import { waitFor } from '../../support/wait.js'

type Handler = (request: IncomingMessage, response: ServerResponse) => void

/** A real HTTP server standing in for Qlik: each test sets how it answers, and sees the connections of its own requests. */
let answer: Handler = (_request, response) => { response.end() }
let server: Server
let origin: string
const sockets: Socket[] = []

function clientWith (timeoutMs = 5_000): UpstreamClient {
  return createUpstreamClient({ timeoutMs, connectTimeoutMs: 1_000 })
}

async function get (client: UpstreamClient, path = '/api/v1/tenants/t1'): ReturnType<UpstreamClient['send']> {
  return await client.send({ target: { host: 'acme.eu.qlikcloud.com', origin }, method: 'GET', path, headers: { accept: 'application/json' } })
}

await describe('upstream client (undici dispatch, real HTTP)', async () => {
  before(async () => {
    server = createServer((request, response) => { answer(request, response) })
    server.on('connection', (socket: Socket) => { sockets.push(socket) })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  beforeEach(() => { sockets.length = 0 })

  await it('settles with Qlik\'s status and headers (repeated ones as a list) and reads a small body whole', async () => {
    answer = (request, response) => {
      response.setHeader('set-cookie', ['a=1', 'b=2'])
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify({ path: request.url, host: request.headers.host }))
    }
    const client = clientWith()
    const response = await get(client)
    assert.equal(response.statusCode, 200)
    assert.deepEqual(response.headers['set-cookie'], ['a=1', 'b=2'])
    assert.equal(response.headers['content-type'], 'application/json')
    assert.deepEqual(JSON.parse(await response.body.text()), { path: '/api/v1/tenants/t1', host: 'acme.eu.qlikcloud.com' })
    await client.close()
  })

  await it('skips an interim 1xx answer and settles with the final one', async () => {
    answer = (_request, response) => {
      response.writeEarlyHints({ link: '</x>; rel=preload' })
      response.writeHead(201, { 'content-type': 'text/plain' }).end('made')
    }
    const client = clientWith()
    const response = await get(client)
    assert.equal(response.statusCode, 201)
    assert.equal((await response.body.bytes()).toString(), 'made')
    await client.close()
  })

  await it('streams a large body intact, and bodies read whole or dumped leave the connection to the next request', async () => {
    const large = Buffer.alloc(3 * 1024 * 1024, 'q')
    answer = (request, response) => { response.end(request.url === '/large' ? large : 'x'.repeat(1000)) }
    const client = clientWith()
    const streamed = await get(client, '/large')
    const chunks: Buffer[] = []
    for await (const chunk of streamed.body.stream()) chunks.push(chunk as Buffer)
    assert.ok(Buffer.concat(chunks).equals(large))
    for (let round = 0; round < 10; round++) {
      assert.equal((await (await get(client, '/small')).body.text()).length, 1000)
      await (await get(client, '/small')).body.dump()
    }
    // undici hands a freed connection back on the next turn, so a request sent at once may open a second one; never one per request.
    assert.ok(sockets.length <= 2, `${sockets.length} connections for 21 requests`)
    assert.equal(sockets.filter((socket) => socket.destroyed).length, 0, 'no connection was closed')
    await client.close()
  })

  await it('dump() of a large rest closes the connection instead of downloading it', async () => {
    answer = (_request, response) => { response.end(Buffer.alloc(8 * 1024 * 1024)) }
    const client = clientWith()
    await (await get(client)).body.dump()
    const [connection] = sockets
    await waitFor('the connection is closed', () => connection?.destroyed === true, { intervalMs: 10 })
    await client.close()
  })

  await it('destroying the stream (the caller went away) closes Qlik\'s connection', async () => {
    answer = (_request, response) => {
      response.writeHead(200)
      response.write(Buffer.alloc(256 * 1024))
      // The rest never comes: only the broker closing the connection ends this request.
    }
    const client = clientWith()
    const response = await get(client)
    const stream = response.body.stream()
    await once(stream, 'readable')
    stream.destroy()
    const [connection] = sockets
    await waitFor('the connection is closed', () => connection?.destroyed === true, { intervalMs: 10 })
    await client.close()
  })

  await it('a body that breaks after the headers is reported by captureUpstream as an answer that was lost', async () => {
    answer = (_request, response) => {
      response.writeHead(200, { 'content-length': '1000' })
      response.write('partial')
      setImmediate(() => response.socket?.destroy())
    }
    const client = clientWith()
    const response = await get(client)
    await assert.rejects(captureUpstream(response), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'QB_UPSTREAM_UNREACHABLE')
      assert.match(error.message, /answered HTTP 200 but the connection broke/)
      return true
    })
    await client.close()
  })

  await it('a body that stalls past the timeout is a timeout, and a connection refused is unreachable', async () => {
    answer = (_request, response) => {
      response.writeHead(200, { 'content-length': '1000' })
      response.write('partial')
    }
    const client = clientWith(1_200)
    const response = await get(client)
    await assert.rejects(captureUpstream(response), (error: Error & { code?: string }) => error.code === 'QB_UPSTREAM_TIMEOUT' && /did not send the whole body in time/.test(error.message))
    await client.close()

    const closedPort = createServer()
    closedPort.listen(0, '127.0.0.1')
    await once(closedPort, 'listening')
    const port = (closedPort.address() as AddressInfo).port
    closedPort.close()
    const refused = clientWith()
    await assert.rejects(refused.send({ target: { host: 'acme.eu.qlikcloud.com', origin: `http://127.0.0.1:${port}` }, method: 'GET', path: '/', headers: {} }),
      (error: Error & { code?: string, cause?: { code?: string } }) => error.code === 'QB_UPSTREAM_UNREACHABLE' && error.cause?.code === 'ECONNREFUSED')
    await refused.close()
  })

  await it('a dispatcher that refuses a request by throwing is a Qlik that could not be reached, like one that reports it', async () => {
    const throwing = createUpstreamClient({ timeoutMs: 1_000, connectTimeoutMs: 1_000, dispatcher: { dispatch () { throw Object.assign(new Error('closed'), { code: 'UND_ERR_CLOSED' }) } } as unknown as Dispatcher })
    await assert.rejects(get(throwing), (error: Error & { code?: string }) => error.code === 'QB_UPSTREAM_UNREACHABLE' && /\(UND_ERR_CLOSED\)/.test(error.message))
    const closedAgent = clientWith()
    await closedAgent.close()
    await assert.rejects(get(closedAgent), (error: Error & { code?: string }) => error.code === 'QB_UPSTREAM_UNREACHABLE')
  })
})

await describe('UpstreamBody', async () => {
  await it('pauses Qlik\'s connection once 64 KiB wait for a reader, and resumes it when one comes', async () => {
    const control = { pauses: 0, resumes: 0, aborted: false, paused: false, reason: null, abort () {}, pause () { control.pauses++ }, resume () { control.resumes++ } }
    const body = new UpstreamBody(control)
    body.received(Buffer.alloc(32 * 1024))
    assert.equal(control.pauses, 0)
    body.received(Buffer.alloc(32 * 1024))
    assert.equal(control.pauses, 1)
    const read = body.bytes()
    assert.equal(control.resumes, 1)
    body.received(Buffer.alloc(10))
    body.ended()
    assert.equal((await read).length, 64 * 1024 + 10)
  })

  await it('is read once: a second read is a bug, reported as such', async () => {
    const body = new UpstreamBody({ aborted: false, paused: false, reason: null, abort () {}, pause () {}, resume () {} })
    body.received(Buffer.from('x'))
    body.ended()
    assert.equal(await body.text(), 'x')
    await assert.rejects(body.text(), /already read/)
  })
})
