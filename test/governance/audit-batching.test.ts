import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { fromFields, type AuditRecord } from '../../src/audit/audit-log.js'
import { createRedisAuditLog } from '../../src/audit/redis-audit-log.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { waitFor } from '../support/wait.js'
import { sleep } from './support.js'

const event = (n: number): AuditRecord => ({ time: new Date().toISOString(), requestId: `r-${n}`, caller: 'svc', region: 'eu', action: 'tenant-api', outcome: 'allowed', upstreamStatus: 200, durationMs: 1 })

async function readsProcessed (client: Redis): Promise<number> {
  const match = /total_reads_processed:(\d+)/.exec(await client.info('stats'))
  return Number(match?.[1])
}

/** Calls of each command redis-server ran since the last reset (INFO commandstats; a script's own calls included). */
async function commandCalls (client: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>()
  for (const match of (await client.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)) calls.set(match[1] ?? '', Number(match[2]))
  return calls
}

async function requestIds (client: Redis, key: string): Promise<string[]> {
  const entries = await client.xrange(key, '-', '+')
  return entries.map(([, fields]) => fromFields(fields)?.requestId ?? '')
}

await describe('the Redis audit log writes in batches', async () => {
  let redis: RedisServer
  let assertions: Redis
  /** Configured as the broker's own client: no offline queue, reconnects by itself. */
  let brokerClient: Redis
  before(async () => {
    redis = await startRedisServer()
    assertions = redis.client()
    brokerClient = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 })
    brokerClient.on('error', () => {})
  })
  after(async () => {
    brokerClient.disconnect()
    await redis.close()
  })
  let logs = 0
  const newLog = (extra: { maxQueued?: number, maxBatch?: number } = {}) => {
    const keyPrefix = `qb-batch-${++logs}:`
    return { key: `${keyPrefix}audit`, log: createRedisAuditLog({ redis: brokerClient, keyPrefix, maxLen: 100_000, ...extra }) }
  }

  await it('stores 1,000 events in order with a handful of round trips instead of one each', async () => {
    const { key, log } = newLog()
    const readsBefore = await readsProcessed(assertions)
    await Promise.all(Array.from({ length: 1_000 }, async (_, n) => { await log.append(event(n)) }))
    const reads = await readsProcessed(assertions) - readsBefore - 1
    const ids = await requestIds(assertions, key)
    assert.deepEqual(ids, Array.from({ length: 1_000 }, (_, n) => `r-${n}`))
    assert.ok(reads <= 20, `${reads} socket reads by redis-server for 1,000 events (batches of 256)`)
  })

  await it('appends up to maxBatch events with one script call, not one XADD command each', async () => {
    const { key, log } = newLog({ maxBatch: 100 })
    await Promise.all(Array.from({ length: 5 }, async (_, n) => { await log.append(event(n)) }))
    await assertions.config('RESETSTAT')
    await Promise.all(Array.from({ length: 1_000 }, async (_, n) => { await log.append(event(n)) }))
    const calls = await commandCalls(assertions)
    const scriptCalls = (calls.get('evalsha') ?? 0) + (calls.get('eval') ?? 0)
    assert.equal(calls.get('xadd'), 1_000, 'each event is still its own stream entry')
    assert.ok(scriptCalls >= 10 && scriptCalls <= 20, `${scriptCalls} script calls for 1,000 events in chunks of at most 100`)
    assert.equal((await requestIds(assertions, key)).length, 1_005)
  })

  await it('sends the script\'s text when Redis does not have it (after a restart or failover), and loses nothing', async () => {
    const { key, log } = newLog()
    await log.append(event(1))
    await assertions.script('FLUSH')
    await Promise.all([2, 3, 4].map(async (n) => { await log.append(event(n)) }))
    assert.deepEqual(await requestIds(assertions, key), ['r-1', 'r-2', 'r-3', 'r-4'])
  })

  await it('a script call Redis refuses fails each of its events, and the log goes on', async () => {
    const { key, log } = newLog()
    await assertions.set(key, 'not a stream')
    const outcomes = await Promise.all([1, 2, 3].map(async (n) => await log.append(event(n)).then(() => 'stored', (error: Error) => error.message)))
    for (const outcome of outcomes) assert.match(outcome, /WRONGTYPE/)
    await assertions.del(key)
    await log.append(event(4))
    assert.deepEqual(await requestIds(assertions, key), ['r-4'])
  })

  await it('writes a lone event within the flush interval, unasked', async () => {
    const { key, log } = newLog()
    const appended = log.append(event(1))
    assert.equal(await assertions.xlen(key), 0, 'not written synchronously')
    // Written on the 20 ms flush timer: well before 500 ms, whatever the load, and well before anything
    // on the 1 s retry timer would be.
    await waitFor('the lone event is written', async () => await assertions.xlen(key) === 1, { timeoutMs: 500, intervalMs: 10 })
    assert.deepEqual(await requestIds(assertions, key), ['r-1'])
    await appended
  })

  await it('lists what this replica just recorded: a read flushes first', async () => {
    const { log } = newLog()
    const appended = [log.append(event(1)), log.append(event(2))]
    const listed = await log.read({ count: 10 })
    assert.deepEqual(listed.map((entry) => entry.event.requestId), ['r-2', 'r-1'])
    await Promise.all(appended)
  })

  await it('stores each event as one JSON field and still reads entries written one field per name (before that change)', async () => {
    const { key, log } = newLog()
    await assertions.xadd(key, '*', 'time', '2026-01-01T00:00:00.000Z', 'requestId', 'r-old', 'caller', 'svc', 'region', 'eu', 'action', 'tenants:read', 'outcome', 'allowed', 'upstreamStatus', '200', 'durationMs', '3')
    await log.append({ ...event(7), upstreamStatus: 201, durationMs: 4 })
    await log.read({ count: 1 })
    const [, fields] = (await assertions.xrange(key, '-', '+'))[1] ?? []
    assert.deepEqual(fields?.[0], 'event')
    assert.equal(fields?.length, 2)
    const listed = await log.read({ count: 10 })
    assert.deepEqual(listed.map((entry) => [entry.event.requestId, entry.event.upstreamStatus, entry.event.durationMs]), [['r-7', 201, 4], ['r-old', 200, 3]])
    assert.equal(listed[1]?.event.caller, 'svc')
  })

  await it('keeps events while Redis is down and writes them when it is back', async () => {
    const { key, log } = newLog()
    await redis.stop()
    const settled: string[] = []
    const appends = [1, 2, 3, 4, 5].map(async (n) => {
      await log.append(event(n))
      settled.push(`r-${n}`)
    })
    await sleep(300)
    assert.deepEqual(settled, [], 'nothing is reported stored while Redis is down')
    await redis.start()
    await Promise.all(appends)
    assert.deepEqual(await requestIds(assertions, key), ['r-1', 'r-2', 'r-3', 'r-4', 'r-5'])
  })

  await it('tries Redis once per retry interval during an outage, however many batches fill up, and loses none', async (t) => {
    const { key, log } = newLog({ maxBatch: 2 })
    const pipeline = brokerClient.pipeline.bind(brokerClient)
    const attempts: number[] = []
    brokerClient.pipeline = ((...args: Parameters<typeof pipeline>) => { attempts.push(performance.now()); return pipeline(...args) }) as typeof brokerClient.pipeline
    t.after(() => { brokerClient.pipeline = pipeline })
    await redis.stop()
    const appends = Array.from({ length: 50 }, async (_, n) => { await log.append(event(n)) })
    // The first full batch fails at once; the 24 others queued behind it wait for the retry timer.
    await waitFor('the first retry', () => attempts.length >= 2, { timeoutMs: 10_000, intervalMs: 10 })
    await redis.start()
    await Promise.all(appends)
    assert.deepEqual(await requestIds(assertions, key), Array.from({ length: 50 }, (_, n) => `r-${n}`))
    // A timer never fires early, so however loaded the machine, attempts closer than the
    // retry interval (1 s) would mean a write tried outside it, e.g. one per full batch.
    const gaps = attempts.slice(1, 3).map((at, i) => at - (attempts[i] ?? 0))
    for (const gap of gaps) assert.ok(gap >= 990, `write attempts ${gaps.map(Math.round).join(', ')} ms apart while Redis was down`)
  })

  await it('bounds what waits for Redis: the oldest events beyond maxQueued are dropped and reported', async () => {
    const { key, log } = newLog({ maxQueued: 3 })
    await redis.stop()
    const outcomes = await Promise.all([1, 2, 3, 4, 5].map(async (n) => {
      const appended = log.append(event(n)).then(() => 'stored', (error: Error) => error.message)
      if (n === 5) await sleep(100)
      if (n === 5) await redis.start()
      return await appended
    }))
    assert.match(outcomes[0] ?? '', /more than 3 audit events waiting for Redis; the oldest was dropped/)
    assert.match(outcomes[1] ?? '', /the oldest was dropped/)
    assert.deepEqual(outcomes.slice(2), ['stored', 'stored', 'stored'])
    assert.deepEqual(await requestIds(assertions, key), ['r-3', 'r-4', 'r-5'])
  })

  await it('close() writes what is queued before the broker stops', async () => {
    const { key, log } = newLog()
    const appended = [log.append(event(1)), log.append(event(2))]
    await log.close()
    assert.deepEqual(await requestIds(assertions, key), ['r-1', 'r-2'])
    await Promise.all(appended)
  })

  await it('close() settles what Redis cannot take instead of waiting for it', async () => {
    const { log } = newLog()
    await redis.stop()
    const pending = log.append(event(1)).then(() => 'stored', (error: Error) => error.message)
    await log.close()
    assert.match(await pending, /Redis was unreachable when the broker stopped/)
    await redis.start()
  })
})
