import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent } from 'undici'
import { captureUpstream } from '../src/idempotency/captured-answer.js'
import { createUpstreamClient } from '../src/qlik/upstream-client.js'

/**
 * `npx tsx bench/upstream-client-micro.ts`: what round 5 of issue 13 changed
 * in the call to Qlik, the way it ran before (undici's `Agent.request()`, the
 * body read with `arrayBuffer()` and copied into a Buffer) and the way it runs
 * now (the broker's upstream client: `Agent.dispatch()` with its own handler
 * and UpstreamBody), for a small JSON answer like the Tenants API's. CPU of
 * this whole process per request (client and the local HTTP server it calls,
 * which costs the same in both), 20 requests in flight, best of 3 rounds
 * (docs/benchmarks.md, "Round 5").
 */
const REQUESTS = 20_000
const IN_FLIGHT = 20
const ROUNDS = 3

const body = Buffer.from(JSON.stringify({ id: 'QKGt8MajfHj5AGO7Vqtp9WgO2uUrmHHo', name: 'acme', hostnames: ['acme.eu.qlikcloud.com'], status: 'active', datacenter: 'eu', created: new Date().toISOString(), licenseKey: 'x'.repeat(480) }))
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
  response.end(body)
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const headers = { accept: 'application/json', authorization: 'Bearer not-a-token' }

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 })
async function before (): Promise<number> {
  const response = await agent.request({ origin, method: 'GET', path: '/api/v1/tenants/t1', headers })
  return Buffer.from(await response.body.arrayBuffer()).length
}

const client = createUpstreamClient({ timeoutMs: 30_000, connectTimeoutMs: 5_000 })
async function now (): Promise<number> {
  const response = await client.send({ target: { host: 'acme.eu.qlikcloud.com', origin }, method: 'GET', path: '/api/v1/tenants/t1', headers })
  return (await captureUpstream(response)).body.length
}

async function cpuPerRequest (call: () => Promise<number>, requests: number): Promise<number> {
  let sent = 0
  const worker = async (): Promise<void> => {
    while (sent++ < requests) if (await call() !== body.length) throw new Error('short body')
  }
  const started = process.cpuUsage()
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  const used = process.cpuUsage(started)
  return (used.user + used.system) / requests
}

const best = { before: Number.POSITIVE_INFINITY, now: Number.POSITIVE_INFINITY }
await cpuPerRequest(before, 2_000)
await cpuPerRequest(now, 2_000)
for (let round = 0; round < ROUNDS; round++) {
  best.before = Math.min(best.before, await cpuPerRequest(before, REQUESTS))
  best.now = Math.min(best.now, await cpuPerRequest(now, REQUESTS))
}
process.stdout.write(`GET of a ${body.length}-byte answer, ${IN_FLIGHT} in flight, CPU per request of client and server, best of ${ROUNDS} × ${REQUESTS}:\n`)
process.stdout.write(`  before (Agent.request, arrayBuffer): ${best.before.toFixed(1)} µs\n  now (dispatch, UpstreamBody):        ${best.now.toFixed(1)} µs\n`)
await client.close()
await agent.close()
server.close()
