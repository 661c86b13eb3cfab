import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { openApiDocument } from '../../scripts/openapi-document.js'
import { http } from '../support/http.js'
import { startStack } from '../support/stack.js'

const committed = readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')

await describe('OpenAPI document', async () => {
  await it('matches a fresh generation from the route schemas (run `npm run openapi` after changing a route)', async () => {
    assert.equal(await openApiDocument(), committed)
  })

  await it('is OpenAPI 3.1 and documents every route of the product table', () => {
    const document = JSON.parse(committed) as { openapi: string, paths: Record<string, Record<string, unknown>> }
    assert.equal(document.openapi, '3.1.0')
    const expected: Array<[string, string[]]> = [
      ['/regions/{region}/api/v1/tenants', ['post']],
      ['/regions/{region}/api/v1/tenants/{tenantId}', ['get', 'patch']],
      ['/regions/{region}/api/v1/tenants/{tenantId}/actions/deactivate', ['post']],
      ['/regions/{region}/api/v1/tenants/{tenantId}/actions/reactivate', ['post']],
      ['/regions/{region}/tenants/{tenant}/api/v1/{*}', ['get', 'post', 'put', 'patch', 'delete']],
      ['/regions', ['get']],
      ['/regions/{region}', ['get']],
      ['/livez', ['get']],
      ['/readyz', ['get']]
    ]
    for (const [path, methods] of expected) {
      for (const method of methods) assert.ok(document.paths[path]?.[method] !== undefined, `${method.toUpperCase()} ${path} is documented`)
    }
  })

  await it('is what the running broker serves at /openapi.json, with Swagger UI at /docs', async (t) => {
    const stack = await startStack(t)
    const served = await http(stack.url, 'GET', '/openapi.json')
    assert.equal(served.status, 200)
    assert.deepEqual(served.json(), JSON.parse(committed))
    const ui = await http(stack.url, 'GET', '/docs/')
    assert.equal(ui.status, 200)
    assert.match(ui.text, /swagger-ui/i)
  })
})
