#!/usr/bin/env node
import { createApiKey } from './auth/api-keys.js'
import { createCipherKeySpec } from './tokens/token-cipher.js'

const USAGE = `usage: qlik-broker <command>

commands:
  create-api-key [name]   print a new caller API key (give it to the caller, once)
                          and the hash to put in the broker's configuration
  create-cache-key [id]   print a new AES-256 key for CACHE_ENCRYPTION_KEYS
`

const [command, argument] = process.argv.slice(2)

switch (command) {
  case 'create-api-key': {
    const name = argument ?? 'my-service'
    const { key, hash } = createApiKey()
    process.stdout.write(`API key for "${name}" (shown once; store it in the caller's secret store):\n  ${key}\n\n` +
      `Add to the broker's config file (BROKER_CONFIG_FILE):\ncallers:\n  - name: ${name}\n    apiKeyHashes: ["${hash}"]\n    grants:\n      - regions: [eu]\n        actions: [tenants:read]\n`)
    break
  }
  case 'create-cache-key':
    process.stdout.write(`${createCipherKeySpec(argument)}\n`)
    break
  default:
    process.stderr.write(USAGE)
    process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 64)
}
