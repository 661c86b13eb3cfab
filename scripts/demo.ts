import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiKey } from '../src/auth/api-keys.js'
import { startBroker } from '../src/broker.js'
import { ConfigError } from '../src/config/config-error.js'
import { loadConfig } from '../src/config/load-config.js'
import { TENANT_ACTIONS } from '../src/config/schema.js'
import { createQlikSimulator, DEMO_CLIENTS } from '@qlik-broker/qlik-cloud-simulator'

/**
 * The newcomer's end-to-end run: the Qlik Cloud simulator, local secret
 * files (what a Vault Agent would render), the in-process token cache, a
 * fresh demo API key, and the broker on http://127.0.0.1:8080.
 */
const port = Number(process.env.BROKER_PORT ?? 8080)
const simulator = await createQlikSimulator({ clients: DEMO_CLIENTS })
const secretsDir = mkdtempSync(join(tmpdir(), 'qlik-broker-demo-'))
for (const client of DEMO_CLIENTS) {
  writeFileSync(join(secretsDir, `${client.region}.json`), JSON.stringify({ client_id: client.clientId, client_secret: client.clientSecret }), { mode: 0o600 })
}
const { key, hash } = createApiKey()

try {
  const config = loadConfig({
    ...process.env,
    BROKER_HOST: process.env.BROKER_HOST ?? '127.0.0.1',
    BROKER_PORT: String(port),
    SECRETS_SOURCE: 'file',
    SECRETS_DIR: secretsDir,
    QLIK_UPSTREAM_ORIGIN: simulator.url,
    REDIS_URL: ''
  }, {
    callers: [{
      name: 'demo',
      apiKeyHashes: [hash],
      grants: [{ regions: '*', actions: [...TENANT_ACTIONS], tenantApi: ['* /api/v1/**'] }]
    }]
  })
  await startBroker(config)
} catch (error) {
  await simulator.close()
  rmSync(secretsDir, { recursive: true, force: true })
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`)
    process.exit(78)
  }
  throw error
}
process.once('exit', () => { rmSync(secretsDir, { recursive: true, force: true }) })

const base = `http://127.0.0.1:${port}`
process.stdout.write(`
qlik-broker demo is running on ${base} (Qlik Cloud simulator on ${simulator.url}).
Swagger UI: ${base}/docs

Demo API key (a caller's credential; the broker never hands out Qlik secrets or tokens):
  export QB_KEY=${key}

Create a tenant in region eu, then list its users (the bot user of the regional client):
  TENANT_ID=$(curl -sf -X POST ${base}/regions/eu/api/v1/tenants -H "Authorization: Bearer $QB_KEY" -H 'content-type: application/json' -d '{"licenseKey":"demo-license-key"}' | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).id')
  curl -sf ${base}/regions/eu/tenants/$TENANT_ID/api/v1/users -H "Authorization: Bearer $QB_KEY"

Regions and the state of their credentials:
  curl -sf ${base}/regions -H "Authorization: Bearer $QB_KEY"

Ctrl-C stops it.
`)
