import { randomBytes } from 'node:crypto'
import { join } from 'node:path'

/**
 * The environment every benchmarked broker runs with: secret files and a
 * caller config in `dir`, one region (eu) on the simulator, Redis with a
 * fresh cache key, logs at info, and every limit set so high it never
 * refuses (the bench measures the work, not the limits). Tenant reads go to
 * the register host, where the bench's simulator serves them under its
 * named guess.
 */
export function benchBrokerEnv (options: { dir: string, simOrigin: string, redisUrl: string, keyPrefix: string }): Record<string, string> {
  return {
    BROKER_HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    BROKER_CONFIG_FILE: join(options.dir, 'broker-config.json'),
    SECRETS_SOURCE: 'file',
    SECRETS_DIR: join(options.dir, 'secrets'),
    QLIK_REGIONS: 'eu',
    QLIK_UPSTREAM_ORIGIN: options.simOrigin,
    REDIS_URL: options.redisUrl,
    REDIS_KEY_PREFIX: options.keyPrefix,
    CACHE_ENCRYPTION_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    QLIK_TIER1_LIMIT: '100000000/60s',
    QLIK_TIER2_LIMIT: '100000000/60s',
    CALLER_QUOTA: '100000000/60s',
    QLIK_TENANT_READS_VIA: 'register'
  }
}
