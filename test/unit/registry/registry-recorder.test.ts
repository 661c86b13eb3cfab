import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import type { CapturedAnswer } from '../../../src/idempotency/captured-answer.js'
import { createMemoryTenantRegistry } from '../../../src/registry/memory-tenant-registry.js'
import { rememberAnswer } from '../../../src/registry/registry-recorder.js'
import type { RegisteredTenant, TenantRegistry } from '../../../src/registry/tenant-registry.js'

const logger = pino({ level: 'silent' })
const tenant: RegisteredTenant = { id: 't1', name: 'acme', hostnames: ['acme.eu.qlikcloud.com'], region: 'eu', status: 'active', createdBy: 'svc', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' }
const answerOf = (body: unknown): CapturedAnswer => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) })

/** A registry that counts the writes it was asked for. */
function counting (inner: TenantRegistry): TenantRegistry & { updates: number } {
  const counted = Object.assign(Object.create(inner) as TenantRegistry, { updates: 0 })
  counted.update = async (...args) => { counted.updates++; return await inner.update(...args) }
  return counted
}

await describe('rememberAnswer on reads', async () => {
  await it('writes nothing for a read of a tenant the registry did not hold when the request was judged', async () => {
    const registry = counting(createMemoryTenantRegistry())
    const result = await rememberAnswer(registry, { action: 'tenants:read', caller: 'svc', region: 'eu', tenantId: 'other', answer: answerOf({ id: 'other', name: 'x', hostnames: ['x.eu.qlikcloud.com'], status: 'active' }), registered: null }, logger)
    assert.equal(result, undefined)
    assert.equal(registry.updates, 0)
  })

  await it('still asks the registry when it was not read while judging (it may hold the tenant)', async () => {
    const registry = counting(createMemoryTenantRegistry())
    await registry.record(tenant)
    const result = await rememberAnswer(registry, { action: 'tenants:read', caller: 'svc', region: 'eu', tenantId: 't1', answer: answerOf({ id: 't1', name: 'renamed', hostnames: tenant.hostnames, status: 'active' }) }, logger)
    assert.equal(registry.updates, 1)
    assert.equal(result?.name, 'renamed')
    assert.equal((await registry.get('eu', 't1'))?.name, 'renamed')
  })

  await it('writes a registered tenant only when Qlik\'s answer differs from it', async () => {
    const registry = counting(createMemoryTenantRegistry())
    await registry.record(tenant)
    await rememberAnswer(registry, { action: 'tenants:read', caller: 'svc', region: 'eu', tenantId: 't1', answer: answerOf({ id: 't1', name: 'acme', hostnames: tenant.hostnames, status: 'active' }), registered: tenant }, logger)
    assert.equal(registry.updates, 0)
    await rememberAnswer(registry, { action: 'tenants:read', caller: 'svc', region: 'eu', tenantId: 't1', answer: answerOf({ id: 't1', name: 'acme', hostnames: tenant.hostnames, status: 'disabled' }), registered: tenant }, logger)
    assert.equal(registry.updates, 1)
    assert.equal((await registry.get('eu', 't1'))?.status, 'disabled')
  })

  await it('still applies a change from an action other than a read though the tenant was not registered when judged', async () => {
    const registry = counting(createMemoryTenantRegistry())
    await rememberAnswer(registry, { action: 'tenants:deactivate', caller: 'svc', region: 'eu', tenantId: 't1', answer: answerOf({ status: 'disabled' }), registered: null }, logger)
    assert.equal(registry.updates, 1)
  })
})
