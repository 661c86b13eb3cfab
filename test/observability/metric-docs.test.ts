import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { bearer, http } from '../support/http.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { startStack } from '../support/stack.js'
import { scrape } from './prometheus-text.js'

const DOCS = ['operations-alerts.md', 'observability.md'].map((name) => ({ name, text: readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8') }))
const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/

await describe('metric names in the docs', { timeout: 60_000 }, async () => {
  let redis: RedisServer
  before(async () => { redis = await startRedisServer() })
  after(async () => { await redis.close() })

  await it('exist in a real scrape, with the labels the alert expressions use', async (t) => {
    const stack = await startStack(t, { redis })
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    assert.equal((await http(stack.url, 'GET', `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users`, { headers: bearer(stack.keys.admin) })).status, 200)
    const metrics = await scrape(stack.url)
    const types = new Map([...metrics.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1] ?? '', match[2] ?? '']))
    const exists = (name: string): boolean => types.has(name) || (HISTOGRAM_SUFFIX.test(name) && types.get(name.replace(HISTOGRAM_SUFFIX, '')) === 'histogram')

    for (const doc of DOCS) {
      const names = new Set([...doc.text.matchAll(/\b(qlik_broker_[a-z0-9_]+[a-z0-9])/g)].map((match) => match[1] ?? ''))
      assert.ok(names.size >= 15, `${doc.name} names the metrics`)
      for (const name of names) assert.ok(exists(name), `${doc.name}: ${name} is not exposed`)
    }

    // Label names in the PromQL selectors, checked against a series of the metric that has samples.
    const alerts = DOCS[0]?.text ?? ''
    let checked = 0
    for (const [, name = '', selector = ''] of alerts.matchAll(/(qlik_broker_[a-z_]+)\{([^}]*)\}/g)) {
      const series = metrics.series(name)
      if (series.length === 0) continue
      for (const [, label = ''] of selector.matchAll(/([a-z_]+)\s*=~?\s*"/g)) {
        assert.ok(series.some((entry) => label in entry.labels), `${name} has no label "${label}"`)
        checked++
      }
    }
    assert.ok(checked >= 8, `label names checked (${checked})`)
  })
})
