import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import Fastify from 'fastify'
import { Command } from 'ioredis'
import pino from 'pino'
import { validatorCompiler } from 'fastify-type-provider-zod'
import { Counter, Histogram, Registry } from 'prom-client'
import { z } from 'zod'
import { toFields, type AuditRecord } from '../src/audit/audit-log.js'
import { createApiKey, createApiKeyIndex } from '../src/auth/api-keys.js'
import { directCounterChild, directHistogramChild } from '../src/observability/direct-children.js'
import { callerRequestIdOf } from '../src/observability/audit.js'
import { brokerValidatorCompiler } from '../src/http/validation.js'
import { isoTime } from '../src/audit/iso-time.js'
import { returnedResponseHeaders } from '../src/qlik/header-policy.js'

/**
 * `npx tsx bench/hot-path-micro.ts`: the per-request pieces issue 13 changed,
 * each timed the way it ran before and the way it runs now, in one process
 * (ns per call, best of 5 rounds of 200,000). Complements `npm run bench
 * -- --baseline <commit>`, whose CPU per request is noisy on a shared machine:
 * these figures are what each change can save at most (docs/benchmarks.md).
 */
const ROUNDS = 5
const CALLS = 200_000

function time (name: string, run: () => unknown): number {
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint()
    for (let call = 0; call < CALLS; call++) run()
    best = Math.min(best, Number(process.hrtime.bigint() - started) / CALLS)
  }
  process.stdout.write(`| ${name} | ${best.toFixed(0)} |\n`)
  return best
}

process.stdout.write('| what | ns per call |\n|---|---:|\n')

// API key: SHA-256 and the digest compare on every request (before), a remembered key (now).
const key = createApiKey()
const byHash = new Map([[key.hash, { digest: Buffer.from(key.hash.slice(7), 'hex'), owner: 'svc' }]])
time('API key, hashed every request (before)', () => {
  const hash = `sha256:${createHash('sha256').update(key.key).digest('hex')}`
  const entry = byHash.get(hash)
  return entry !== undefined && timingSafeEqual(entry.digest, Buffer.from(hash.slice(7), 'hex'))
})
const find = createApiKeyIndex([{ hash: key.hash, owner: 'svc' }])
find(key.key)
time('API key, remembered (now)', () => find(key.key))

// Audit: the caller's request id from the logger's bindings.
const requestLogger = pino({ level: 'silent' }).child({ reqId: randomBytes(16).toString('hex') })
time('callerRequestId: bindings() parsed (before)', () => (requestLogger.bindings() as { callerRequestId?: string }).callerRequestId)
time('callerRequestId: only when the bindings hold one (now)', () => callerRequestIdOf(requestLogger))

// Audit stream entry: fields and what ioredis encodes for the XADD.
const record: AuditRecord = { time: new Date().toISOString(), requestId: 'd7c0c6a4-2c53-4c7a-9d0e-7c1ad5a3f2b1', caller: 'bench', region: 'eu', tenant: 'KforJY2NTJQqmNZLapcuwk8K6gw09WiH', tenantHostname: 'acme.eu.qlikcloud.com', action: 'tenant-api', outcome: 'allowed', upstreamStatus: 200, durationMs: 1, method: 'GET', path: '/api/v1/users/1941a18731d2dc5998057c19' }
const NAMES = ['time', 'requestId', 'callerRequestId', 'caller', 'region', 'tenant', 'tenantHostname', 'action', 'outcome', 'upstreamStatus', 'durationMs', 'idempotencyKey', 'method', 'path'] as const
const fieldPairs = (event: AuditRecord): string[] => NAMES.flatMap((name) => event[name] === undefined ? [] : [name, String(event[name])])
const encode = (fields: string[]): unknown => new Command('xadd', ['qb:audit', 'MAXLEN', '~', 100000, '*', ...fields]).toWritable(null as never)
time('audit XADD, a field per name, encoded (before)', () => encode(fieldPairs(record)))
time('audit XADD, one JSON field, encoded (now)', () => encode(toFields(record)))

// Metrics: prom-client's labelled children (before) and direct ones (now).
const registers = [new Registry()]
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const counter = new Counter({ name: 'c', help: 'h', labelNames: ['method', 'route', 'status'], registers })
const histogram = new Histogram({ name: 'h', help: 'h', labelNames: ['method', 'route', 'status_class'], buckets: BUCKETS, registers })
const promCounter = counter.labels('GET', '/a', '200')
const promHistogram = histogram.labels('GET', '/a', '2xx')
const directCounter = directCounterChild(counter, { method: 'GET', route: '/b', status: '200' })
const directHistogram = directHistogramChild(histogram, { method: 'GET', route: '/b', status_class: '2xx' }, BUCKETS)
time('counter increment, prom-client child (before)', () => { promCounter.inc() })
time('counter increment, direct child (now)', () => { directCounter.inc() })
time('histogram observation, prom-client child (before)', () => { promHistogram.observe(0.0012) })
time('histogram observation, direct child (now)', () => { directHistogram.observe(0.0012) })

// Fastify's request.routeOptions: a new object per read; the broker read it five times per request.
const app = Fastify()
let routeOptionsNs = 0
app.get('/regions/:region', async (request) => {
  routeOptionsNs = time('request.routeOptions, one read (before: five per request)', () => request.routeOptions.url)
  return {}
})
await app.inject({ url: '/regions/eu' })
await app.close()
process.stdout.write(`\nrouteOptions × 5 per request: ${(routeOptionsNs * 5).toFixed(0)} ns\n`)

// Validated headers handed back to Fastify make every request.headers / host / protocol read copy all headers.
const CALLER_HEADERS = { host: 'broker.example', 'user-agent': 'bench', accept: 'application/json', 'accept-encoding': 'gzip', authorization: 'Bearer qbk_0123456789abcdef', connection: 'keep-alive', 'x-request-id': 'caller-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }
async function headerReads (name: string, compiler: typeof validatorCompiler): Promise<void> {
  const headersApp = Fastify()
  headersApp.setValidatorCompiler(compiler)
  headersApp.get('/regions/:region', { schema: { headers: z.object({ 'idempotency-key': z.string().optional() }) } }, async (request) => {
    // What a pass-through GET reads: the headers for Qlik once, host twice and protocol once for the redirect origin.
    let kept: unknown
    time(name, () => { kept = [request.headers, request.host, request.protocol] })
    return { kept: kept !== undefined }
  })
  await headersApp.inject({ url: '/regions/eu', headers: CALLER_HEADERS })
  await headersApp.close()
}
await headerReads('request.headers + host + protocol, headers handed back by zod (before)', validatorCompiler)
await headerReads('request.headers + host + protocol, headers left as sent (now)', brokerValidatorCompiler)

// The audit record's time, four events per millisecond: a Date formatted per event (before), the second's prefix kept (now).
let clock = Date.now()
time('audit time, new Date().toISOString() (before)', () => new Date(Math.floor(clock++ / 4)).toISOString())
clock = Date.now()
time('audit time, isoTime (now)', () => isoTime(Math.floor(clock++ / 4)))

// Qlik's answer headers filtered for the caller: Object.entries (before) and for…in (now), over the simulator's headers.
const QLIK_HEADERS: Record<string, string | string[] | undefined> = { 'content-type': 'application/json; charset=utf-8', 'content-length': '412', date: 'Fri, 04 Dec 2026 14:30:00 GMT', connection: 'keep-alive', 'keep-alive': 'timeout=5', etag: 'W/"19c-abc"', vary: 'Accept-Encoding', 'x-request-id': 'd7c0c6a4-2c53-4c7a-9d0e-7c1ad5a3f2b1' }
const RETURNED = new Set(['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'content-type', 'etag', 'last-modified', 'link', 'location', 'retry-after', 'vary', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'])
let returned: unknown
time('answer headers, Object.entries (before)', () => {
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(QLIK_HEADERS)) {
    if (value === undefined) continue
    if (RETURNED.has(name.toLowerCase())) headers[name] = value
  }
  returned = headers
})
time('answer headers, for…in (now)', () => { returned = returnedResponseHeaders(QLIK_HEADERS) })
process.stdout.write(returned === undefined ? '' : '\n')

// The two global hooks of every request, called as Fastify's hook runner calls them: async ones return a promise the
// runner follows with then() (its reaction runs as a microtask, drained inside the timing), callback ones call done().
const fakeReply = { header (_name: string, _value: string) { return fakeReply } }
const fakeRequest = { id: 'd7c0c6a4-2c53-4c7a-9d0e-7c1ad5a3f2b1' }
let closingNow = false
const asyncOnRequest = async (request: typeof fakeRequest, reply: typeof fakeReply): Promise<void> => { reply.header('x-request-id', request.id); if (closingNow) throw new Error('closing') }
const asyncOnSend = async (_request: typeof fakeRequest, reply: typeof fakeReply): Promise<void> => { if (closingNow) reply.header('connection', 'close') }
const callbackOnRequest = (request: typeof fakeRequest, reply: typeof fakeReply, done: (error?: Error) => void): void => { reply.header('x-request-id', request.id); if (closingNow) { done(new Error('closing')); return } done() }
const callbackOnSend = (_request: typeof fakeRequest, reply: typeof fakeReply, done: (error?: Error) => void): void => { if (closingNow) reply.header('connection', 'close'); done() }
let settled = 0
const next = (): void => { settled++ }
async function timeHooks (name: string, run: () => void): Promise<void> {
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint()
    for (let call = 0; call < CALLS; call++) run()
    await new Promise((resolve) => setImmediate(resolve))
    best = Math.min(best, Number(process.hrtime.bigint() - started) / CALLS)
  }
  process.stdout.write(`| ${name} | ${best.toFixed(0)} |\n`)
}
await timeHooks('onRequest + onSend, async hooks followed by then() (before)', () => {
  asyncOnRequest(fakeRequest, fakeReply).then(next, next)
  asyncOnSend(fakeRequest, fakeReply).then(next, next)
})
await timeHooks('onRequest + onSend, callback hooks (now)', () => {
  callbackOnRequest(fakeRequest, fakeReply, next)
  callbackOnSend(fakeRequest, fakeReply, next)
})
closingNow = settled < 0
