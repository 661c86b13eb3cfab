import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Pool } from 'undici'
import { createApiKey } from '../../src/auth/api-keys.js'
import { createQlikSimulator, DEMO_CLIENTS } from '@qlik-broker/qlik-cloud-simulator'
import { startBrokerProcess } from '../support/broker-process.js'
import { CALLER_GRANTS } from '../support/stack.js'
import { OpenApiFuzzer, type GeneratedRequest, type OpenApiDocument } from './openapi-generator.js'

/** Change with FUZZ_SEED to explore; a failure names its seed and request so it reproduces. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261204)
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000)
const WARM_UP = 2_000
const CONCURRENCY = 16
const HANG_MS = 15_000
const CREDENTIAL_SHAPES = [/qbk_[A-Za-z0-9_-]{16,}/, /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/]

/** The broker process's resident memory (Linux), in bytes. */
function rssOf (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

/** RSS once the process is idle: V8 gives memory back a few seconds after the load stops; waits up to `withinMs` for `target`. */
async function settledRss (pid: number, target: number, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs
  let rss = rssOf(pid)
  while (rss > target && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    rss = rssOf(pid)
  }
  return rss
}

/** What is kept of each answer (the bodies are checked as they come, not kept: the run measures the broker's memory). */
interface Outcome { request: GeneratedRequest, key: string, status: number, contentType: string, text: string }

await describe('OpenAPI-driven fuzz of every operation', async () => {
  await it(`sends ${REQUESTS} malformed and boundary requests: no broker 5xx, no hang, no credential in a response or log, memory back`, async (t) => {
    // The broker in its own process, as production runs it, so its memory is its own (not the simulator's or the test's).
    const simulator = await createQlikSimulator({ clients: DEMO_CLIENTS, rateLimits: { tier1PerWindow: 100_000_000, tier2PerWindow: 100_000_000, windowMs: 60_000 } })
    const workDir = mkdtempSync(join(tmpdir(), 'qlik-broker-fuzz-'))
    for (const client of DEMO_CLIENTS) writeFileSync(join(workDir, `${client.region}.json`), JSON.stringify({ client_id: client.clientId, client_secret: client.clientSecret }))
    const admin = createApiKey()
    const reader = createApiKey()
    const auditor = createApiKey()
    const broker = await startBrokerProcess({
      workDir,
      env: {
        SECRETS_SOURCE: 'file',
        SECRETS_DIR: workDir,
        QLIK_REGIONS: DEMO_CLIENTS.map((client) => client.region).join(','),
        QLIK_UPSTREAM_ORIGIN: simulator.url,
        QLIK_TIER1_LIMIT: '100000000/60s',
        QLIK_TIER2_LIMIT: '100000000/60s',
        CALLER_QUOTA: '100000000/60s'
      },
      callers: [
        { name: 'admin', apiKeyHashes: [admin.hash], grants: CALLER_GRANTS.admin },
        { name: 'reader', apiKeyHashes: [reader.hash], grants: CALLER_GRANTS.reader },
        { name: 'auditor', apiKeyHashes: [auditor.hash], grants: [{ regions: '*', actions: ['audit:read'] }] }
      ]
    })
    t.after(async () => {
      await broker.kill('SIGKILL')
      await simulator.close()
      rmSync(workDir, { recursive: true, force: true })
    })
    const stack = {
      url: broker.url,
      simulator,
      keys: { admin: admin.key, reader: reader.key, auditor: auditor.key },
      secrets: DEMO_CLIENTS.map((client) => client.clientSecret),
      logs: { text: () => broker.output().slice(logsScanned) }
    }
    let logsScanned = 0
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const hostname = tenant.hostnames[0] ?? ''
    const document = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as OpenApiDocument
    let keyCounter = 0
    const fuzzer: OpenApiFuzzer = new OpenApiFuzzer(document, SEED, (name: string): string | undefined => {
      switch (name) {
        case 'region': return fuzzer.pick(['eu', 'eu', 'eu', 'us'])
        case 'tenantId': return tenant.id
        case 'tenant': return fuzzer.pick([tenant.id, hostname])
        case '*': return fuzzer.pick(['users', 'users/me', 'spaces', 'items', 'users/some-id'])
        case 'qlik-confirm-hostname': return hostname
        case 'idempotency-key': return `fuzz-${keyCounter++ % 500}`
        case 'limit': return '10'
        case 'status': return 'active'
        case 'since': case 'until': return new Date(0).toISOString()
        case 'caller': return 'admin'
        default: return undefined
      }
    })
    const operations = fuzzer.operations()
    assert.ok(operations.length >= 15, `every operation of openapi/ (${operations.length})`)
    const keys: Array<[string, string | undefined]> = [['broad', stack.keys.admin], ['narrow', stack.keys.reader], ['audit', stack.keys.auditor], ['none', undefined]]
    const pool = new Pool(stack.url, { connections: 8, pipelining: 1 })
    t.after(async () => { await pool.close() })

    async function send (request: GeneratedRequest, key: string | undefined): Promise<{ status: number, contentType: string, text: string, headers: string }> {
      const headers = { ...request.headers, ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) }
      const signal = AbortSignal.timeout(HANG_MS)
      const response = await pool.request({ method: request.method as 'GET', path: request.path, headers, body: request.body ?? null, signal })
      const text = await response.body.text()
      return { status: response.statusCode, contentType: String(response.headers['content-type'] ?? ''), text, headers: JSON.stringify(response.headers) }
    }

    const sensitive = (): string[] => [...stack.secrets, ...stack.simulator.issuedTokens(), ...Object.values(stack.keys)]
    const leaks: string[] = []
    let answered = 0
    /** Checks the broker's log lines written since the last check (every 500 answers, and once at the end). */
    function scanLogs (): void {
      if (++answered % 500 !== 0) return
      const text = stack.logs.text()
      logsScanned += text.length
      for (const value of sensitive()) if (text.includes(value)) leaks.push('a secret, token or key in the logs')
      for (const shape of CREDENTIAL_SHAPES) if (shape.test(text)) leaks.push(`a credential-shaped string in the logs: ${shape.exec(text)?.[0].slice(0, 12) ?? ''}…`)
    }
    const outcomes: Outcome[] = []
    const notProblems: string[] = []
    const hangs: string[] = []
    const transportErrors: string[] = []
    async function run (count: number, keep: boolean): Promise<void> {
      let next = 0
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < count) {
          const n = next++
          const { path, method, operation } = operations[n % operations.length] ?? operations[0] ?? { path: '/livez', method: 'GET', operation: {} }
          const request = fuzzer.request(path, method, operation)
          const [keyName, key] = fuzzer.pick(keys)
          try {
            const answer = await send(request, key)
            for (const shape of CREDENTIAL_SHAPES) if (shape.test(answer.text) || shape.test(answer.headers)) leaks.push(`${request.method} ${request.path.slice(0, 120)} (${request.mutation}): ${answer.text.slice(0, 300)}`)
            for (const value of sensitive()) if (answer.text.includes(value) || answer.headers.includes(value)) leaks.push(`a secret, token or key in the answer to ${request.method} ${request.path.slice(0, 120)}`)
            // A refusal is the broker's problem+json, or Qlik's own `errors` envelope passed on; never Fastify's or Node's default body.
            const problem = /^application\/problem\+json/.test(answer.contentType)
            const qlikEnvelope = /^application\/json/.test(answer.contentType) && answer.text.startsWith('{"errors":[')
            if (keep && answer.status >= 400 && !problem && !qlikEnvelope) notProblems.push(`${answer.status} ${request.method} ${request.path.slice(0, 100)} (${request.mutation}) ${answer.contentType}: ${answer.text.slice(0, 120)}`)
            if (keep) outcomes.push({ request: answer.status >= 400 ? request : { ...request, body: '' }, key: keyName, status: answer.status, contentType: answer.contentType, text: answer.status >= 500 ? answer.text : '' })
            scanLogs()
          } catch (error) {
            const name = (error as Error).name
            const line = `${request.method} ${request.path.slice(0, 120)} (${request.mutation}): ${(error as Error).message}`
            if (name === 'TimeoutError' || name === 'AbortError') hangs.push(line)
            else transportErrors.push(line)
          }
        }
      }))
    }

    await run(WARM_UP, false)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const rssBefore = rssOf(broker.pid)
    const started = Date.now()
    await run(REQUESTS, true)
    const elapsedMs = Date.now() - started
    const rssAfter = await settledRss(broker.pid, rssBefore * 1.2, 15_000)

    const byStatus = new Map<number, number>()
    for (const outcome of outcomes) byStatus.set(outcome.status, (byStatus.get(outcome.status) ?? 0) + 1)
    t.diagnostic(`seed ${SEED}: ${outcomes.length} requests in ${elapsedMs} ms over ${operations.length} operations; statuses ${JSON.stringify(Object.fromEntries(byStatus))}; RSS ${(rssBefore / 1e6).toFixed(0)} → ${(rssAfter / 1e6).toFixed(0)} MB`)

    assert.deepEqual(hangs, [], `seed ${SEED}: requests that got no answer in ${HANG_MS} ms`)
    // The broker closes the connection after some refusals (oversized headers); anything else is a bug.
    assert.ok(transportErrors.length <= outcomes.length * 0.001, `seed ${SEED}: ${transportErrors.length} transport errors: ${transportErrors.slice(0, 5).join('\n')}`)
    // A tenant hostname Qlik issues no token for is a 404 (QB_TENANT_HOST_REFUSED), not a 5xx: no exception needed.
    const brokerErrors = outcomes.filter((outcome) => outcome.status >= 500)
    assert.deepEqual(brokerErrors.map((outcome) => `${outcome.status} ${outcome.request.method} ${outcome.request.path.slice(0, 120)} [${outcome.key}] (${outcome.request.mutation}): ${outcome.text.slice(0, 200)}`), [], `seed ${SEED}: 5xx answers`)
    assert.deepEqual(notProblems.slice(0, 10), [], `seed ${SEED}: ${notProblems.length} refusals neither the broker's problem+json nor Qlik's envelope`)
    assert.ok(elapsedMs < 120_000, `${REQUESTS} requests took ${elapsedMs} ms`)

    const rest = stack.logs.text()
    for (const value of sensitive()) if (rest.includes(value)) leaks.push('a secret, token or key in the logs')
    for (const shape of CREDENTIAL_SHAPES) if (shape.test(rest)) leaks.push('a credential-shaped string in the logs')
    assert.deepEqual(leaks, [], `seed ${SEED}: credentials where they must never be`)

    assert.ok(rssAfter <= rssBefore * 1.2, `RSS ${(rssBefore / 1e6).toFixed(0)} MB before, ${(rssAfter / 1e6).toFixed(0)} MB after (seed ${SEED})`)
  })
})
