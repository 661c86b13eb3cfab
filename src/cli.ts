#!/usr/bin/env node
import { createApiKey } from './auth/api-keys.js'
import { BOT_USERS_USAGE, runBotUsers } from './cli/bot-users.js'
import { ConfigError } from './config/config-error.js'
import { loadConfig } from './config/load-config.js'
import { describeRedisTopology, redisTopologyOf } from './redis/redis-topology.js'
import { createCipherKeySpec } from './tokens/token-cipher.js'

const USAGE = `usage: qlik-broker <command>

commands:
  create-api-key [name]   print a new caller API key (give it to the caller, once)
                          and the hash to put in the broker's configuration
  create-cache-key [id]   print a new AES-256 key for CACHE_ENCRYPTION_KEYS
  config check            validate the configuration the broker would start with
                          (environment + BROKER_CONFIG_FILE): exit 0 with a summary,
                          or exit 78 (EX_CONFIG) listing every problem
  bot-users plan|apply|status --region <code> [--tenant …]
                          migrate what old bot users own, through a running broker
                          (--broker URL, credential in QB_KEY); exits 1 when anything failed
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
  case 'config':
    if (argument !== 'check') {
      process.stderr.write(USAGE)
      process.exit(64)
    }
    checkConfig()
    break
  case 'bot-users': {
    if (argument === undefined || argument === 'help' || argument === '--help') {
      process.stdout.write(BOT_USERS_USAGE)
      break
    }
    const code = await runBotUsers(process.argv.slice(3), {
      stdout: (text) => { process.stdout.write(text) },
      stderr: (text) => { process.stderr.write(text) },
      env: process.env,
      fetch,
      sleep: async (ms) => { await new Promise((resolve) => setTimeout(resolve, ms)) },
      tty: process.stdout.isTTY
    })
    process.exitCode = code
    break
  }
  default:
    process.stderr.write(USAGE)
    process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 64)
}

function checkConfig (): void {
  try {
    const config = loadConfig(process.env)
    // Only the addresses are described: the CA file's content is not needed for that.
    const cache = describeRedisTopology(redisTopologyOf(config.cache, () => ''))
    process.stdout.write(`configuration OK: regions ${config.regions.map((region) => region.code).join(', ')}; ` +
      `secrets from ${config.secrets.source}; token cache ${cache}; ${config.callers.length} caller(s), ${config.issuers.length} JWT issuer(s)\n`)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`qlik-broker: ${error.message}\n`)
    process.exit(78)
  }
}
