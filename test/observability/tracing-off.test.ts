import assert from 'node:assert/strict'
import { register } from 'node:module'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { MessageChannel } from 'node:worker_threads'

// A module resolve hook that reports every OpenTelemetry module this process
// loads. The broker is imported after it (dynamic imports below), so its whole
// module graph goes through the hook: that needs a process that has not
// loaded the broker yet.
// test/run.ts: own process (the broker's static imports must go through the hook)
const HOOKS = `
let port
export function initialize (data) { port = data.port }
export async function resolve (specifier, context, next) {
  const result = await next(specifier, context)
  if (result.url.includes('/@opentelemetry/') || result.url.includes('tracing-otel')) port.postMessage(result.url)
  return result
}
`
const { port1, port2 } = new MessageChannel()
const loaded: string[] = []
port1.on('message', (url: string) => { loaded.push(url) })
port1.unref()
register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] })

const { bearer, http } = await import('../support/http.js')
const { startStack } = await import('../support/stack.js')

await describe('tracing off', { timeout: 60_000 }, async () => {
  await it('never loads OpenTelemetry: not at start, not while serving', async (t) => {
    const stack = await startStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    const response = await http(stack.url, 'GET', `/regions/eu/tenants/${tenant.hostnames[0] ?? ''}/api/v1/users`, { headers: bearer(stack.keys.admin) })
    assert.equal(response.status, 200, response.text)
    assert.equal(stack.broker.deps.tracing.enabled, false)
    await sleep(50)
    assert.equal(loaded.length, 0, `no OpenTelemetry module is resolved (got ${loaded.join(', ')})`)

    // The hook does see OpenTelemetry when it is loaded, so the empty list above means something.
    await import('@opentelemetry/api')
    await sleep(50)
    assert.ok(loaded.some((url) => url.includes('/@opentelemetry/api/')), `the hook reports OpenTelemetry modules (${loaded.join(', ')})`)
  })
})
