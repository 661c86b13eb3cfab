import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'

/**
 * Domain code takes no Fastify types: the HTTP layer (src/http, src/routes,
 * src/app.ts) adapts requests to it, so the domain can be driven from a CLI,
 * a job or a test without a web framework.
 */
const DOMAIN_FOLDERS = ['tokens', 'qlik', 'secrets', 'idempotency', 'registry', 'audit', 'tenants', 'bot-users', 'clients', 'quota', 'regions']
const SRC = join(import.meta.dirname, '../../../src')
const FASTIFY_IMPORT = /from\s+'(fastify|fastify-[^']+|@fastify\/[^']+)'/

function sourcesUnder (folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
}

await describe('domain layering', async () => {
  await it('no domain module imports Fastify or a Fastify plugin', () => {
    const offenders = DOMAIN_FOLDERS.flatMap((folder) => sourcesUnder(join(SRC, folder)))
      .filter((file) => FASTIFY_IMPORT.test(readFileSync(file, 'utf8')))
      .map((file) => file.slice(SRC.length + 1))
    assert.deepEqual(offenders, [])
  })

  await it('finds the modules it checks', () => {
    assert.ok(sourcesUnder(join(SRC, 'idempotency')).some((file) => file.endsWith('idempotency.ts')))
  })
})
