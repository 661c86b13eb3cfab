import { pino } from 'pino'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config/load-config.js'
import { createDependencies } from '../src/dependencies.js'
import { createMemorySecretsSource } from './memory-secrets-source.js'

/**
 * The OpenAPI document as the broker serves it, built from the route
 * schemas with an app that needs nothing running (no Vault, Redis or Qlik).
 */
export async function openApiDocument (): Promise<string> {
  const config = loadConfig({ SECRETS_SOURCE: 'file', BROKER_DOCS_ENABLED: 'false' })
  const deps = createDependencies(config, pino({ level: 'silent' }), { secrets: createMemorySecretsSource() })
  const app = await buildApp(deps, { logger: pino({ level: 'silent' }) })
  await app.ready()
  const document = JSON.stringify(app.swagger(), null, 2) + '\n'
  await app.close()
  await deps.close()
  return document
}
