import { randomUUID } from 'node:crypto'
import { openSync } from 'node:fs'
import { setImmediate as nextTurn } from 'node:timers/promises'
import pino from 'pino'
import { audit } from '../src/observability/audit.js'
import { createLogDestination } from '../src/observability/log-destination.js'
import { loggerOptions } from '../src/observability/logger.js'

/**
 * `npx tsx bench/log-lines-micro.ts`: what the two log lines of a users-me
 * request (the request line and the audit line, on a per-request child
 * logger) cost the main thread, serialised only (into a stream that drops
 * them) and written through the broker's log destination to /dev/null, in µs
 * per request (best of 6 rounds of 100,000; a turn of the event loop every
 * 50 requests, as under load). The difference is what the destination costs
 * (docs/benchmarks.md, "Round 6").
 */
const ROUNDS = 6
const REQUESTS = 100_000
const REQUESTS_PER_TURN = 50

const url = '/regions/eu/tenants/vo1zetae3ccysnm.eu.qlikcloud.com/api/v1/users/1bd7ff2e10c48c103c6771c4'

async function perRequest (name: string, logger: pino.Logger): Promise<number> {
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint()
    for (let request = 0; request < REQUESTS; request++) {
      const requestId = randomUUID()
      const requestLogger = logger.child({ reqId: requestId })
      requestLogger.info({ method: 'GET', url, route: '/regions/:region/tenants/:tenant/api/v1/*', statusCode: 200, responseTimeMs: 5.2 }, 'request completed')
      audit(requestLogger, { requestId, caller: 'bench', region: 'eu', tenant: 'vo1zetae3ccysnm.eu.qlikcloud.com', tenantHostname: 'vo1zetae3ccysnm.eu.qlikcloud.com', action: 'tenant-api', method: 'GET', path: '/api/v1/users/1bd7ff2e10c48c103c6771c4', outcome: 'allowed', upstreamStatus: 200, durationMs: 5 })
      if (request % REQUESTS_PER_TURN === 0) await nextTurn()
    }
    best = Math.min(best, Number(process.hrtime.bigint() - started) / REQUESTS / 1000)
  }
  process.stdout.write(`| ${name} | ${best.toFixed(2)} |\n`)
  return best
}

process.stdout.write('| two lines per request | µs per request |\n|---|---:|\n')
const dropped = await perRequest('serialised only (a stream that drops them)', pino(loggerOptions('info'), { write () {} }))
const destination = createLogDestination({ maxBufferBytes: 64 * 1024 * 1024, fd: openSync('/dev/null', 'w') })
const written = await perRequest('written through the log destination to /dev/null', pino(loggerOptions('info'), destination.stream))
await perRequest('level warn: the child logger and the calls only', pino(loggerOptions('warn'), destination.stream))
process.stdout.write(`\nthe destination: ${(written - dropped).toFixed(2)} µs per request\n`)
