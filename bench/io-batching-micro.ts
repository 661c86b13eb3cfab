import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { pino } from 'pino'
import { toEntryJson, type AuditRecord } from '../src/audit/audit-log.js'
import { APPEND } from '../src/audit/redis-audit-log.js'
import { createLogDestination } from '../src/observability/log-destination.js'
import { loggerOptions } from '../src/observability/logger.js'
import { killAllStarted, startRedis } from './lib/processes.js'

/**
 * `npx tsx bench/io-batching-micro.ts`: what round 4 of issue 13 changed in
 * the broker's two writes per request, each the way it ran before and the
 * way it runs now, in CPU per request of this whole process (every thread:
 * process.cpuUsage), best of 3 rounds (docs/benchmarks.md, "Round 4"):
 * - the audit stream: a pipeline of one XADD per event (before) against one
 *   script call per chunk of events (now), the same JSON in both, against a redis-server of its own,
 *   at the batch sizes the broker's 20 ms flush sees from 50 to 10,000 req/s;
 * - the log destination: the request and audit lines of each request written
 *   once per turn of the event loop (before: `batchWindowMs: 0`) against
 *   once per millisecond (now), at 1, 2 and 4 requests per turn.
 */
const ROUNDS = 3

function cpuMicros (): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

async function best (run: () => Promise<number>): Promise<number> {
  let lowest = Number.POSITIVE_INFINITY
  for (let round = 0; round < ROUNDS; round++) lowest = Math.min(lowest, await run())
  return lowest
}

const record: AuditRecord = { time: '2026-12-04T19:00:00.123Z', requestId: '914d2b42-3d53-4010-9bc9-59d90877111c', caller: 'bench', region: 'eu', action: 'tenant-api', tenant: 'okGsjr7z0vo88v9Nv9mFjzxXyFHFeTim', tenantHostname: 'bench-tenant.eu.qlikcloud.com', outcome: 'allowed', upstreamStatus: 200, durationMs: 3, method: 'GET', path: '/api/v1/users/64f1e2d3c4b5a69788796a5b' }

const redis = await startRedis()
const dir = mkdtempSync(join(tmpdir(), 'qlik-broker-io-micro-'))
try {
  process.stdout.write('| audit stream, events per flush | one XADD each (before), µs per event | one script call per chunk (now), µs per event |\n|---:|---:|---:|\n')
  const key = 'io-micro:audit'
  const json = toEntryJson(record)
  for (const batch of [10, 100, 256]) {
    const rounds = Math.ceil(20_000 / batch)
    const perEvent = async (write: () => Promise<unknown>): Promise<number> => await best(async () => {
      for (let warm = 0; warm < 20; warm++) await write()
      const started = cpuMicros()
      for (let round = 0; round < rounds; round++) await write()
      return (cpuMicros() - started) / rounds / batch
    })
    const xadds = await perEvent(async () => {
      const pipeline = redis.client.pipeline()
      for (let event = 0; event < batch; event++) pipeline.xadd(key, 'MAXLEN', '~', 100_000, '*', 'event', json)
      return await pipeline.exec()
    })
    const sha = await redis.client.script('LOAD', APPEND.source) as string
    const scripted = await perEvent(async () => await redis.client.pipeline().evalsha(sha, 1, key, 100_000, ...Array.from({ length: batch }, () => json)).exec())
    process.stdout.write(`| ${batch} | ${xadds.toFixed(2)} | ${scripted.toFixed(2)} |\n`)
  }

  process.stdout.write('\n| requests per turn | log lines written once per turn (before), µs per request | once per millisecond (now), µs per request |\n|---:|---:|---:|\n')
  const requests = 50_000
  for (const perTurn of [1, 2, 4]) {
    const perRequest = async (batchWindowMs: number): Promise<number> => await best(async () => {
      const fd = openSync(join(dir, `log-${batchWindowMs}`), 'w')
      const destination = createLogDestination({ maxBufferBytes: 8 * 1024 * 1024, fd, batchWindowMs })
      const logger = pino(loggerOptions('info'), destination.stream)
      const started = cpuMicros()
      for (let sent = 0; sent < requests;) {
        for (let request = 0; request < perTurn; request++, sent++) {
          const line = logger.child({ reqId: record.requestId })
          line.info({ audit: true, ...record }, 'audit tenant-api allowed')
          line.info({ method: 'GET', url: '/regions/eu/tenants/bench-tenant.eu.qlikcloud.com/api/v1/users/64f1e2d3c4b5a69788796a5b', route: '/regions/:region/tenants/:tenant/api/v1/*', statusCode: 200, responseTimeMs: 3.2 }, 'request completed')
        }
        await nextTurn()
      }
      // Until the last write is done: what it cost belongs to the run.
      await new Promise((resolve) => setTimeout(resolve, 50))
      const used = (cpuMicros() - started) / requests
      closeSync(fd)
      return used
    })
    process.stdout.write(`| ${perTurn} | ${(await perRequest(0)).toFixed(2)} | ${(await perRequest(1)).toFixed(2)} |\n`)
  }
} finally {
  killAllStarted()
  await redis.stop()
  rmSync(dir, { recursive: true, force: true })
}
