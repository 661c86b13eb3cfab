import { startBroker } from './broker.js'
import { ConfigError } from './config/config-error.js'
import { loadConfig } from './config/load-config.js'

// The container's entry point: configuration from the environment, or exit 78 (EX_CONFIG) listing every problem.
try {
  await startBroker(loadConfig(process.env))
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`qlik-broker: ${error.message}\n`)
  process.exit(78)
}
