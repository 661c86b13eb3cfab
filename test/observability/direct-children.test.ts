import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Counter, Histogram, Registry } from 'prom-client'
import { directCounterChild, directHistogramChild } from '../../src/observability/direct-children.js'

const BUCKETS = [0.005, 0.01, 0.1, 1]

/** The same metrics, one fed through prom-client's children, one through the direct ones. */
function pair () {
  const make = (prefix: string) => {
    const registry = new Registry()
    return {
      registry,
      counter: new Counter({ name: `${prefix}_requests_total`, help: 'h', labelNames: ['route', 'status'], registers: [registry] }),
      histogram: new Histogram({ name: `${prefix}_seconds`, help: 'h', labelNames: ['route'], buckets: BUCKETS, registers: [registry] })
    }
  }
  return { reference: make('m'), direct: make('m') }
}

await describe('direct metric children', async () => {
  await it('expose exactly what prom-client\'s own children expose for the same events, at bucket bounds, above every bound and at 0', async () => {
    const { reference, direct } = pair()
    const values = [0, 0.005, 0.0051, 0.01, 0.05, 0.1, 0.99, 1, 1.5, 30, 0.003]
    const counted = directCounterChild(direct.counter, { route: '/a/:id', status: '200' })
    const other = directCounterChild(direct.counter, { route: '/b', status: '404' })
    const timed = directHistogramChild(direct.histogram, { route: '/a/:id' }, BUCKETS)
    for (const value of values) {
      reference.counter.labels({ route: '/a/:id', status: '200' }).inc()
      reference.histogram.labels({ route: '/a/:id' }).observe(value)
      counted.inc()
      timed.observe(value)
    }
    reference.counter.labels({ route: '/b', status: '404' }).inc()
    other.inc()
    assert.equal(await direct.registry.metrics(), await reference.registry.metrics())
    assert.match(await direct.registry.metrics(), /m_seconds_bucket\{le="0.005",route="\/a\/:id"\} 3\n/)
    assert.match(await direct.registry.metrics(), /m_requests_total\{route="\/a\/:id",status="200"\} 11\n/)
  })

  await it('show a child at 0 from its creation, as inc(0) and zero() do', async () => {
    const { direct } = pair()
    directCounterChild(direct.counter, { route: '/c', status: '200' })
    directHistogramChild(direct.histogram, { route: '/c' }, BUCKETS)
    const text = await direct.registry.metrics()
    assert.match(text, /m_requests_total\{route="\/c",status="200"\} 0\n/)
    assert.match(text, /m_seconds_count\{route="\/c"\} 0/)
  })

  await it('keep counting after prom-client replaced its records (reset)', async () => {
    const { direct } = pair()
    const counted = directCounterChild(direct.counter, { route: '/d', status: '200' })
    const timed = directHistogramChild(direct.histogram, { route: '/d' }, BUCKETS)
    counted.inc()
    timed.observe(0.02)
    direct.counter.reset()
    direct.histogram.reset()
    counted.inc()
    timed.observe(0.02)
    const text = await direct.registry.metrics()
    assert.match(text, /m_requests_total\{route="\/d",status="200"\} 1\n/)
    assert.match(text, /m_seconds_count\{route="\/d"\} 1/)
    assert.match(text, /m_seconds_sum\{route="\/d"\} 0.02/)
  })

  await it('refuse a value that is not a number, as prom-client does', () => {
    const { direct } = pair()
    assert.throws(() => { directHistogramChild(direct.histogram, { route: '/e' }, BUCKETS).observe(Number.NaN) }, TypeError)
  })
})
