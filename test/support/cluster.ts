import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiKey } from '../../src/auth/api-keys.js'
import { createQlikSimulator, type QlikSimulator, type QlikSimulatorOptions } from '@qlik-broker/qlik-cloud-simulator'
import { createCipherKeySpec } from '../../src/tokens/token-cipher.js'
import { startBrokerProcess, waitUntilReady, type BrokerProcess } from './broker-process.js'
import type { RedisServer } from './redis-server.js'

export const CLUSTER_CLIENTS = [
  { region: 'eu', clientId: 'cluster-eu-client', clientSecret: 'cluster-eu-secret-0123456789' },
  { region: 'us', clientId: 'cluster-us-client', clientSecret: 'cluster-us-secret-0123456789' }
]

export interface Cluster {
  brokers: BrokerProcess[]
  simulator: QlikSimulator
  key: string
  workDir: string
  env: Record<string, string>
  callers: unknown
  /** Starts one more replica with the same configuration. */
  addBroker (): Promise<BrokerProcess>
  close (): Promise<void>
}

/**
 * K broker processes sharing one redis-server and one Qlik simulator, with
 * local secret files (or whatever `env` says), and one admin caller.
 * A blank `redis.url` leaves REDIS_URL unset, for `env` to give another topology (Sentinel, Cluster).
 */
export async function startCluster (options: { replicas: number, redis: Pick<RedisServer, 'url'>, env?: Record<string, string>, simulator?: QlikSimulatorOptions, secretFiles?: boolean }): Promise<Cluster> {
  // The cluster tests drive tenants the simulator made (not through the broker) by id, and count the
  // register host's tokens: they read tenants on the register host, a guess Qlik does not document
  // (docs/reference/qlik-cloud-api.md §11). Tests of the documented default are in test/routes/tenant-routing.test.ts.
  const simulator = await createQlikSimulator({ clients: CLUSTER_CLIENTS, guessRegisterServesTenantReads: true, ...options.simulator })
  const workDir = mkdtempSync(join(tmpdir(), 'qlik-broker-cluster-'))
  if (options.secretFiles !== false) {
    for (const client of CLUSTER_CLIENTS) writeFileSync(join(workDir, `${client.region}.json`), JSON.stringify({ client_id: client.clientId, client_secret: client.clientSecret }))
  }
  const { key, hash } = createApiKey()
  const callers = [{ name: 'load', apiKeyHashes: [hash], grants: [{ regions: '*', actions: ['tenants:create', 'tenants:read'], tenantApi: ['* /api/v1/**'] }] }]
  const env = {
    SECRETS_SOURCE: 'file',
    SECRETS_DIR: workDir,
    QLIK_REGIONS: CLUSTER_CLIENTS.map((client) => client.region).join(','),
    QLIK_UPSTREAM_ORIGIN: simulator.url,
    REDIS_URL: options.redis.url,
    REDIS_KEY_PREFIX: `qb-cluster-${Date.now()}:`,
    CACHE_ENCRYPTION_KEYS: createCipherKeySpec('cluster'),
    // Token and failure tests drive far more than Qlik's real budget and a caller's quota allow.
    QLIK_TIER1_LIMIT: '100000000/60s',
    QLIK_TIER2_LIMIT: '100000000/60s',
    CALLER_QUOTA: '100000000/60s',
    QLIK_TENANT_READS_VIA: 'register',
    ...options.env
  }
  const brokers: BrokerProcess[] = []
  const addBroker = async (): Promise<BrokerProcess> => {
    const broker = await startBrokerProcess({ env, callers, workDir, name: `broker-${brokers.length}` })
    brokers.push(broker)
    return broker
  }
  const close = async (): Promise<void> => {
    await Promise.all(brokers.map(async (broker) => broker.kill('SIGKILL')))
    await simulator.close()
    rmSync(workDir, { recursive: true, force: true })
  }
  try {
    await Promise.all(Array.from({ length: options.replicas }, addBroker))
    await Promise.all(brokers.map(async (broker) => waitUntilReady(broker.url)))
  } catch (error) {
    // Whatever did start goes too: a listening simulator or a live broker would keep the test process alive.
    await close()
    throw error
  }
  return {
    brokers,
    simulator,
    key,
    workDir,
    env,
    callers,
    addBroker,
    close
  }
}
