import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createApiKey } from '../src/auth/api-keys.js'
import { startBroker } from '../src/broker.js'
import { loadConfig } from '../src/config/load-config.js'
import { createQlikSimulator, DEMO_CLIENTS } from '@qlik-broker/qlik-cloud-simulator'
import { createCipherKeySpec } from '../src/tokens/token-cipher.js'
import { startRedisServer } from '../test/support/redis-server.js'

/**
 * `npm run bench:bot-users`: 3 tenants × 500 items owned by an old bot user,
 * one migration job, and normal Tier 2 traffic on one of the tenants at the
 * same time, through one broker with Redis and the Qlik simulator.
 *
 * Time is scaled: Qlik's Tier 2 limit (100/min per bot user per tenant,
 * docs/reference/qlik-cloud-api.md §5) becomes 100 per `60 s / BENCH_SCALE`
 * on both the simulator and the broker (default scale 30: 100 per 2 s), so every
 * figure in seconds is 1/BENCH_SCALE of the real one.
 */
const SCALE = Number(process.env.BENCH_SCALE ?? 30)
const ITEMS_PER_TENANT = Number(process.env.BENCH_ITEMS ?? 500)
const FRACTION = Number(process.env.BENCH_FRACTION ?? 0.5)
const NORMAL_CONCURRENCY = 4
const WINDOW_MS = Math.round(60_000 / SCALE)
const HOSTS = ['bench-a.eu.qlikcloud.com', 'bench-b.eu.qlikcloud.com', 'bench-c.eu.qlikcloud.com']

const redis = await startRedisServer()
const sim = await createQlikSimulator({ clients: DEMO_CLIENTS, rateLimits: { tier1PerWindow: 1000, tier2PerWindow: 100, windowMs: WINDOW_MS } })
const secretsDir = mkdtempSync(join(tmpdir(), 'qb-bench-bot-users-'))
for (const client of DEMO_CLIENTS) writeFileSync(join(secretsDir, `${client.region}.json`), JSON.stringify({ client_id: client.clientId, client_secret: client.clientSecret }))
const { key, hash } = createApiKey()
const config = loadConfig({
  BROKER_HOST: '127.0.0.1',
  BROKER_PORT: '0',
  SECRETS_SOURCE: 'file',
  SECRETS_DIR: secretsDir,
  QLIK_REGIONS: DEMO_CLIENTS.map((client) => client.region).join(','),
  QLIK_UPSTREAM_ORIGIN: sim.url,
  REDIS_URL: redis.url,
  REDIS_KEY_PREFIX: 'qb-bench-bot-users:',
  CACHE_ENCRYPTION_KEYS: createCipherKeySpec('bench'),
  CALLER_QUOTA: '100000000/60s',
  QLIK_TIER1_LIMIT: `1000/${WINDOW_MS}ms`,
  QLIK_TIER2_LIMIT: `100/${WINDOW_MS}ms`,
  BOT_USERS_BUDGET_FRACTION: String(FRACTION),
  LOG_LEVEL: 'warn'
}, { callers: [{ name: 'bench', apiKeyHashes: [hash], grants: [{ regions: ['eu'], tenants: '*', actions: ['bot-users:read', 'bot-users:migrate'], tenantApi: ['* /api/v1/**'] }] }] })
const broker = await startBroker(config, { handleSignals: false, logger: pino({ level: 'warn' }) })
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }

try {
  const tenants = HOSTS.map((host) => {
    const tenant = sim.addTenant({ region: 'eu', hostnames: [host] })
    const oldBot = sim.addUser(tenant.id, { clientId: 'old-eu-client', name: 'Old EU client' })
    const human = sim.addUser(tenant.id, { subject: `idp|bench-${tenant.id}` })
    // 500 items in the kinds' proportions an estate might have.
    const per = Math.floor(ITEMS_PER_TENANT / 5)
    sim.seedContent(tenant.id, { ownerId: oldBot.id, apps: per, spaces: per, dataFiles: per, automations: per, automationConnections: ITEMS_PER_TENANT - 4 * per })
    const space = sim.seedContent(tenant.id, { ownerId: human.id, spaces: 1 }).spaces[0] ?? ''
    return { id: tenant.id, host, oldBot: oldBot.id, space }
  })

  const started = Date.now()
  const job = await (await fetch(`${broker.url}/regions/eu/bot-users/jobs`, { method: 'POST', headers, body: JSON.stringify({ tenants: HOSTS }) })).json() as { id: string }

  // Normal traffic: Tier 2 writes on the first tenant, as fast as the broker admits them, while the job runs.
  const traffic = { running: true }
  const normal = { ok: 0, brokerRefused: 0, other: 0 }
  const first = tenants[0]
  const workers = Array.from({ length: NORMAL_CONCURRENCY }, async (_, worker) => {
    for (let n = 0; traffic.running; n++) {
      const response = await fetch(`${broker.url}/regions/eu/tenants/${first?.host ?? ''}/api/v1/spaces/${first?.space ?? ''}`, {
        method: 'PATCH', headers, body: JSON.stringify([{ op: 'replace', path: '/description', value: `w${worker}-${n}` }])
      })
      await response.arrayBuffer()
      if (response.status === 200) normal.ok++
      else if (response.status === 429) normal.brokerRefused++
      else normal.other++
    }
  })
  let state: { status: string, totals: { found: number, moved: number, failed: number }, tenants: Array<{ phase: string }> }
  let jobEnded = 0
  const tenantDone: number[] = []
  for (;;) {
    state = await (await fetch(`${broker.url}/regions/eu/bot-users/jobs/${job.id}`, { headers })).json() as typeof state
    state.tenants.forEach((tenant, index) => { if (tenant.phase === 'done' && tenantDone[index] === undefined) tenantDone[index] = (Date.now() - started) / 1000 })
    if (state.status !== 'running') { jobEnded = Date.now(); break }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  traffic.running = false
  await Promise.all(workers)
  const seconds = (jobEnded - started) / 1000
  const movedTwice = tenants.flatMap((tenant) => {
    const content = sim.content(tenant.id)
    return [...content.apps, ...content.spaces, ...content.dataFiles, ...content.automations, ...content.automationConnections].filter((item) => item.ownerChanges > 1)
  }).length
  const leftWithOld = tenants.reduce((sum, tenant) => {
    const content = sim.content(tenant.id)
    return sum + [...content.apps, ...content.spaces, ...content.dataFiles, ...content.automations, ...content.automationConnections].filter((item) => item.ownerId === tenant.oldBot).length
  }, 0)
  const counters = sim.counters()
  const budgetPerSecond = 100 / (WINDOW_MS / 1000)
  process.stdout.write([
    `bot-user migration bench: ${HOSTS.length} tenants × ${ITEMS_PER_TENANT} items, Tier 2 = 100 per ${WINDOW_MS} ms (Qlik's 100/min × ${SCALE}), job share ${FRACTION}`,
    '',
    '| figure | value | at Qlik\'s real limit |',
    '|---|---|---|',
    `| job: items found / moved / failed | ${state.totals.found} / ${state.totals.moved} / ${state.totals.failed} | |`,
    `| job: wall time | ${seconds.toFixed(1)} s | ${(seconds * SCALE / 60).toFixed(1)} min |`,
    ...tenantDone.map((at, index) => `| tenant ${index + 1}${index === 0 ? ' (with normal traffic)' : ' (job alone)'}: done after | ${at.toFixed(1)} s: ${(ITEMS_PER_TENANT / at).toFixed(1)} moves/s | ${(at * SCALE / 60).toFixed(1)} min |`),
    `| job: moves per tenant per second | ${(state.totals.moved / HOSTS.length / seconds).toFixed(1)} (share ${(FRACTION * budgetPerSecond).toFixed(0)}/s) | ${(state.totals.moved / HOSTS.length / seconds * 60 / SCALE).toFixed(1)}/min |`,
    `| normal Tier 2 traffic on tenant 1 during the job: answered 200 | ${normal.ok} (${(normal.ok / seconds).toFixed(1)}/s of ${budgetPerSecond.toFixed(0)}/s) | ${(normal.ok / seconds * 60 / SCALE).toFixed(1)}/min |`,
    `| normal traffic refused by the broker (429, would exceed Qlik's budget) / other errors | ${normal.brokerRefused} / ${normal.other} | |`,
    `| 429s from the simulator (Qlik) | ${counters.rateLimited} | |`,
    `| items moved twice / left with the old bot user | ${movedTwice} / ${leftWithOld} | |`,
    ''
  ].join('\n'))
} finally {
  await broker.close()
  await sim.close()
  await redis.close()
  rmSync(secretsDir, { recursive: true, force: true })
}
