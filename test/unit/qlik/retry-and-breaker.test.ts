import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createCircuitBreaker } from '../../../src/qlik/circuit-breaker.js'
import { mayRetry, parseRetryAfter, retryDelayMs } from '../../../src/qlik/retry-policy.js'

await describe('retry policy', async () => {
  await it('retries a 429 for every method: Qlik refused without acting', () => {
    for (const method of ['GET', 'POST', 'PATCH']) assert.equal(mayRetry(method, { status: 429 }), true, method)
  })

  await it('retries 502/503/504 only for methods that cannot act twice', () => {
    for (const status of [502, 503, 504]) {
      assert.equal(mayRetry('GET', { status }), true)
      assert.equal(mayRetry('PUT', { status }), true)
      assert.equal(mayRetry('POST', { status }), false)
      assert.equal(mayRetry('PATCH', { status }), false)
    }
    assert.equal(mayRetry('GET', { status: 500 }), false)
    assert.equal(mayRetry('GET', { status: 404 }), false)
  })

  await it('retries a POST only when the connection never opened', () => {
    assert.equal(mayRetry('POST', { errorCode: 'ECONNREFUSED' }), true)
    assert.equal(mayRetry('POST', { errorCode: 'UND_ERR_CONNECT_TIMEOUT' }), true)
    assert.equal(mayRetry('POST', { errorCode: 'ECONNRESET' }), false)
    assert.equal(mayRetry('GET', { errorCode: 'ECONNRESET' }), true)
  })

  await it('backs off exponentially with jitter, capped, and honours Retry-After', () => {
    const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000, maxRetryAfterMs: 10_000 }
    assert.equal(retryDelayMs(policy, 1, undefined, () => 0.999), 99)
    assert.equal(retryDelayMs(policy, 3, undefined, () => 0.5), 200)
    assert.equal(retryDelayMs(policy, 10, undefined, () => 0.999), 999)
    assert.equal(retryDelayMs(policy, 1, 7_000), 7_000)
  })

  await it('reads Retry-After as seconds or as an HTTP date', () => {
    assert.equal(parseRetryAfter('13'), 13_000)
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000)
    assert.equal(parseRetryAfter('soon'), undefined)
    assert.equal(parseRetryAfter(undefined), undefined)
  })
})

await describe('circuit breaker', async () => {
  await it('opens after the threshold, fails fast, lets one probe through after the cooldown and closes on its success', () => {
    let clock = 0
    const breaker = createCircuitBreaker({ failureThreshold: 3, cooldownMs: 1_000, now: () => clock })
    breaker.failed('h')
    breaker.failed('h')
    assert.doesNotThrow(() => { breaker.admit('h') })
    breaker.failed('h')
    assert.equal(breaker.state('h'), 'open')
    assert.throws(() => { breaker.admit('h') }, (error: { code: string, headers: Record<string, string> }) => error.code === 'QB_UPSTREAM_UNAVAILABLE' && error.headers['retry-after'] === '1')
    assert.equal(breaker.state('other'), 'closed', 'hosts are apart')
    clock = 1_000
    assert.doesNotThrow(() => { breaker.admit('h') }, 'the probe')
    assert.throws(() => { breaker.admit('h') }, 'only one probe at a time')
    breaker.succeeded('h')
    assert.equal(breaker.state('h'), 'closed')
    assert.deepEqual(breaker.openHosts(), [])
  })

  await it('opens again at once when the probe fails', () => {
    let clock = 0
    const breaker = createCircuitBreaker({ failureThreshold: 1, cooldownMs: 500, now: () => clock })
    breaker.failed('h')
    clock = 500
    breaker.admit('h')
    breaker.failed('h')
    assert.equal(breaker.state('h'), 'open')
    assert.equal(breaker.openHosts()[0]?.retryAt, 1_000)
  })

  await it('resets the failure count on a success', () => {
    const breaker = createCircuitBreaker({ failureThreshold: 2, cooldownMs: 500 })
    breaker.failed('h')
    breaker.succeeded('h')
    breaker.failed('h')
    assert.equal(breaker.state('h'), 'closed')
  })
})
