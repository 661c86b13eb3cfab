import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bearer, http } from '../support/http.js'
import { startStack } from '../support/stack.js'

interface LogLine { msg?: string, reqId?: string, method?: string, url?: string, route?: string, statusCode?: number, responseTimeMs?: number, audit?: boolean }

await describe('request log', async () => {
  await it('writes one line per request when the answer is sent, and none for healthy probes', async (t) => {
    const stack = await startStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const lines = (): LogLine[] => stack.logs.lines.map((line) => JSON.parse(line) as LogLine)
    const before = lines().length

    const read = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${tenant.id}?x=1`, { headers: { ...bearer(stack.keys.admin), 'x-request-id': 'log-1', 'qlik-tenant-hostname': tenant.hostnames[0] ?? '' } })
    assert.equal(read.status, 200)
    const refused = await http(stack.url, 'GET', '/regions/eu', { headers: { 'x-request-id': 'log-2' } })
    assert.equal(refused.status, 401)
    assert.equal((await http(stack.url, 'GET', '/livez')).status, 200)
    assert.equal((await http(stack.url, 'GET', '/readyz')).status, 200)

    const written = lines().slice(before)
    const completed = written.filter((line) => line.msg === 'request completed')
    assert.deepEqual(completed.map(({ reqId, method, url, route, statusCode }) => ({ reqId, method, url, route, statusCode })), [
      { reqId: read.headers['x-request-id'], method: 'GET', url: `/regions/eu/api/v1/tenants/${tenant.id}?x=1`, route: '/regions/:region/api/v1/tenants/:tenantId', statusCode: 200 },
      { reqId: refused.headers['x-request-id'], method: 'GET', url: '/regions/eu', route: '/regions/:region', statusCode: 401 }
    ])
    assert.ok(completed.every((line) => typeof line.responseTimeMs === 'number' && line.responseTimeMs >= 0))
    assert.equal(written.some((line) => line.msg === 'incoming request'), false, 'no line when a request arrives')
    assert.deepEqual(written.filter((line) => line.reqId === read.headers['x-request-id']).map((line) => line.audit === true ? 'audit' : line.msg), ['audit', 'request completed'], 'the tenant read: its audit line and its request line, nothing else')
  })
})
