import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createApiKey } from '../../src/auth/api-keys.js'
import { redactUrl } from '../../src/observability/redact-url.js'
import { bearer, http } from '../support/http.js'
import { startStack } from '../support/stack.js'

await describe('issue 10 §10: credential-like query values never reach a log line', async () => {
  await it('redacts them in the request log, the not-found line and the audit line', async (t) => {
    const stack = await startStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const leaked = createApiKey().key
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
    const paths = [
      `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users?access_token=${leaked}&limit=5`,
      `/regions/eu/api/v1/tenants/${tenant.id}?Client_Secret=hunter2-secret&x=${jwt}`,
      `/no/such/route?api-key=${leaked}`,
      `/regions?token=${encodeURIComponent(leaked)}`
    ]
    for (const path of paths) await http(stack.url, 'GET', path, { headers: bearer(stack.keys.admin) })
    await http(stack.url, 'GET', '/regions?password=hunter2-secret')
    const text = stack.logs.text()
    for (const secret of [leaked, jwt, 'hunter2-secret', encodeURIComponent(leaked)]) assert.equal(text.includes(secret), false, `${secret} is not in the logs`)
    const urls = stack.logs.lines.map((line) => JSON.parse(line) as { url?: string, msg?: string }).filter((line) => line.msg === 'request completed').map((line) => line.url)
    assert.ok(urls.includes(`/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users?access_token=[redacted]&limit=5`), JSON.stringify(urls))
    assert.ok(urls.includes(`/regions/eu/api/v1/tenants/${tenant.id}?Client_Secret=[redacted]&x=[redacted]`), JSON.stringify(urls))
  })

  await it('keeps everything else as sent', () => {
    assert.equal(redactUrl('/a/b'), '/a/b')
    assert.equal(redactUrl('/a?limit=5&sort=-name&next='), '/a?limit=5&sort=-name&next=')
    assert.equal(redactUrl('/a?id_token=x&refresh%5Ftoken=y&signature=z&code=c&qbk_abc'), '/a?id_token=[redacted]&refresh%5Ftoken=[redacted]&signature=[redacted]&code=[redacted]&[redacted]')
    assert.equal(redactUrl('/a?%E0%A4%A=1'), '/a?%E0%A4%A=1', 'an undecodable name is kept, not a crash')
  })
})
