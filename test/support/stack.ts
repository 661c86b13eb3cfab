import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { createApiKey } from '../../src/auth/api-keys.js'
import { startBroker, type RunningBroker } from '../../src/broker.js'
import { loadConfig } from '../../src/config/load-config.js'
import { createQlikSimulator, DEMO_CLIENTS, type QlikSimulator, type QlikSimulatorOptions } from '@qlik-broker/qlik-cloud-simulator'
import { createCipherKeySpec } from '../../src/tokens/token-cipher.js'
import { captureLogs, type CapturedLogs } from './log-capture.js'
import type { RedisServer } from './redis-server.js'

export const CALLER_GRANTS = {
  admin: [{ regions: '*', actions: ['tenants:create', 'tenants:read', 'tenants:update', 'tenants:deactivate', 'tenants:reactivate'], tenantApi: ['* /api/v1/**'] }],
  /** Reads tenants and users in eu only. */
  reader: [{ regions: ['eu'], actions: ['tenants:read'], tenantApi: ['GET /api/v1/users/**'] }],
  /** Creates in eu, nothing else. */
  creator: [{ regions: ['eu'], actions: ['tenants:create'] }],
  /** Valid key, no grants at all. */
  nobody: []
} as const

export type CallerName = keyof typeof CALLER_GRANTS

export interface Stack {
  url: string
  broker: RunningBroker
  simulator: QlikSimulator
  logs: CapturedLogs
  keys: Record<CallerName, string>
  /** Every client secret the stack knows, for leak searches. */
  secrets: string[]
  /** Where the broker reads its secret files (`<region>.json`), for tests that rewrite one. */
  secretsDir: string
}

export interface StackOptions {
  redis?: RedisServer
  env?: Record<string, string>
  simulator?: QlikSimulatorOptions
  callers?: (hashes: Record<CallerName, string>) => unknown
}

/**
 * A broker listening on a real port, talking over real HTTP to a Qlik
 * simulator, with local secret files, optionally a real redis-server, and its
 * logs captured. Torn down after the test.
 */
export async function startStack (t: TestContext, options: StackOptions = {}): Promise<Stack> {
  const simulator = await createQlikSimulator({ clients: DEMO_CLIENTS, ...options.simulator })
  const secretsDir = mkdtempSync(join(tmpdir(), 'qlik-broker-test-'))
  const clients = options.simulator?.clients ?? DEMO_CLIENTS
  for (const client of clients) {
    writeFileSync(join(secretsDir, `${client.region}.json`), JSON.stringify({ client_id: client.clientId, client_secret: client.clientSecret }))
  }
  const generated = Object.fromEntries(Object.keys(CALLER_GRANTS).map((name) => [name, createApiKey()])) as Record<CallerName, { key: string, hash: string }>
  const hashes = Object.fromEntries(Object.entries(generated).map(([name, { hash }]) => [name, hash])) as Record<CallerName, string>
  const callers = options.callers?.(hashes) ?? Object.entries(CALLER_GRANTS).map(([name, grants]) => ({ name, apiKeyHashes: [hashes[name as CallerName]], grants }))
  const logs = captureLogs()
  const config = loadConfig({
    BROKER_HOST: '127.0.0.1',
    BROKER_PORT: '0',
    SECRETS_SOURCE: 'file',
    SECRETS_DIR: secretsDir,
    QLIK_REGIONS: clients.map((client) => client.region).join(','),
    QLIK_UPSTREAM_ORIGIN: simulator.url,
    ...(options.redis === undefined ? {} : { REDIS_URL: options.redis.url, CACHE_ENCRYPTION_KEYS: createCipherKeySpec('test'), REDIS_KEY_PREFIX: `qb-test-${Date.now()}:` }),
    ...options.env
  }, { callers })
  const broker = await startBroker(config, { handleSignals: false, logger: logs.logger })
  t.after(async () => {
    await broker.close()
    await simulator.close()
    rmSync(secretsDir, { recursive: true, force: true })
  })
  return {
    url: broker.url,
    broker,
    simulator,
    logs,
    keys: Object.fromEntries(Object.entries(generated).map(([name, { key }]) => [name, key])) as Record<CallerName, string>,
    secrets: clients.map((client) => client.clientSecret),
    secretsDir
  }
}

/** Every secret and token the stack has seen, which must appear nowhere outside the broker's memory. */
export function sensitiveValues (stack: Stack): string[] {
  return [...stack.secrets, ...stack.simulator.issuedTokens()]
}
