import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { returnedResponseHeaders } from '../../src/qlik/header-policy.js'
import { bearer, http } from '../support/http.js'
import { startStack } from '../support/stack.js'
import { startHeaderProxy } from './header-proxy.js'

await describe('issue 10 §11: upstream headers reach the caller by exact name only', async () => {
  await it('drops ratelimit-* headers from Qlik and keeps the broker\'s own quota headers', async (t) => {
    const proxy = await startHeaderProxy({
      'ratelimit-canary-token': 'qbk_canary',
      'ratelimit-limit': '999999',
      'ratelimit-remaining': '999999',
      'ratelimit-policy': '999999;w=1',
      'ratelimit-reset': '0',
      'x-ratelimit-limit': '1000',
      'x-ratelimit-secret-debug': 'canary',
      'x-request-id': 'forged-by-upstream'
    })
    t.after(proxy.close)
    const stack = await startStack(t, { env: { QLIK_UPSTREAM_ORIGIN: proxy.url, CALLER_QUOTA: '50/60s' } })
    proxy.upstream = stack.simulator.url
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    for (const path of [`/regions/eu/api/v1/tenants/${tenant.id}`, `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users`]) {
      const answer = await http(stack.url, 'GET', path, { headers: { ...bearer(stack.keys.admin), 'x-request-id': 'mine-1', 'qlik-tenant-hostname': tenant.hostnames[0] ?? '' } })
      assert.equal(answer.status, 200, answer.text)
      assert.equal(answer.headers['ratelimit-canary-token'], undefined, path)
      assert.equal(answer.headers['x-ratelimit-secret-debug'], undefined, path)
      assert.equal(answer.headers['ratelimit-limit'], '50', `${path}: the broker's quota, not Qlik's`)
      assert.equal(answer.headers['ratelimit-policy'], '50;w=60', path)
      assert.ok(Number(answer.headers['ratelimit-remaining']) < 50, path)
      assert.equal(answer.headers['x-ratelimit-limit'], '1000', `${path}: Qlik's own limit header, by its exact name`)
      assert.match(String(answer.headers['x-request-id']), /^[0-9a-f-]{36}$/, `${path}: the broker's own request id, never Qlik's`)
    }
  })

  await it('never returns a header the broker sets itself, whatever Qlik sends', () => {
    const returned = returnedResponseHeaders({
      'content-type': 'application/json',
      'ratelimit-limit': '1',
      'ratelimit-policy': '1;w=1',
      ratelimit: 'limit=1',
      'ratelimit-anything': 'x',
      'x-ratelimit-limit': '10',
      'x-ratelimit-remaining': '9',
      'x-ratelimit-reset': '5',
      'x-ratelimit-other': 'x',
      'x-request-id': 'upstream',
      'set-cookie': 'a=b'
    })
    assert.deepEqual(Object.keys(returned).sort(), ['content-type', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'])
  })
})
