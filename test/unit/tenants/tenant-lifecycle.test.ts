import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createAuditTrail } from '../../../src/audit/audit-trail.js'
import { createMemoryAuditLog } from '../../../src/audit/memory-audit-log.js'
import type { Caller } from '../../../src/auth/caller.js'
import { isBrokerError } from '../../../src/http/broker-error.js'
import type { ForwardRequest, QlikGateway } from '../../../src/qlik/qlik-gateway.js'
import { UpstreamBody } from '../../../src/qlik/upstream-body.js'
import { createRegionRegistry } from '../../../src/regions/region-registry.js'
import { createMemoryTenantRegistry } from '../../../src/registry/memory-tenant-registry.js'
import { createTenantLifecycle, type LifecycleRequest } from '../../../src/tenants/tenant-lifecycle.js'
import { captureLogs } from '../../support/log-capture.js'
import { regionConfig } from '../fakes/regions.js'

const TENANT_HOST = 'acme.eu.qlikcloud.com'
const admin: Caller = { name: 'admin', via: 'api-key', grants: [{ regions: '*', actions: ['tenants:create', 'tenants:read', 'tenants:update', 'tenants:deactivate', 'tenants:reactivate'], tenantApi: [], tenants: '*' }] }

/** A lifecycle whose Qlik answers every request with `answer`; `sent` lists what it was asked. */
function lifecycleAnswering (answer: { status: number, headers: Record<string, string> }): { run: (request: Partial<LifecycleRequest>) => ReturnType<ReturnType<typeof createTenantLifecycle>['run']>, sent: ForwardRequest[] } {
  const sent: ForwardRequest[] = []
  const gateway: QlikGateway = {
    async forward (request) {
      sent.push(request)
      const body = new UpstreamBody({ aborted: false, paused: false, reason: null, abort () {}, pause () {}, resume () {} })
      body.received(Buffer.from('{}'))
      body.ended()
      return { statusCode: answer.status, headers: answer.headers, body }
    }
  }
  const logs = captureLogs()
  const lifecycle = createTenantLifecycle({
    regions: createRegionRegistry([regionConfig('eu')]),
    gateway,
    hosts: { hostOf: async () => TENANT_HOST },
    tenantReadsVia: 'tenant',
    registry: createMemoryTenantRegistry(),
    audit: createAuditTrail({ log: createMemoryAuditLog({ maxLen: 100 }), logger: logs.logger })
  })
  const run = async (request: Partial<LifecycleRequest>): ReturnType<typeof lifecycle.run> => {
    const full: LifecycleRequest = { caller: admin, regionCode: 'eu', action: 'tenants:read', tenantId: 'T1', method: 'GET', path: '/api/v1/tenants/T1', headers: {}, requestId: 'r1', logger: logs.logger, brokerOrigin: 'https://broker.internal', ...request }
    // A create names no tenant.
    if (full.action === 'tenants:create') delete full.tenantId
    return await lifecycle.run(full)
  }
  return { run, sent }
}

await describe('tenant lifecycle: Qlik\'s Location header (issue 9 §2)', async () => {
  await it('points a same-host Location at the broker\'s own route', async () => {
    const onTenant = lifecycleAnswering({ status: 302, headers: { location: `https://${TENANT_HOST}/api/v1/tenants/T1` } })
    const answer = await onTenant.run({})
    assert.equal(onTenant.sent[0]?.host, TENANT_HOST)
    assert.equal(answer.headers.location, `https://broker.internal/regions/eu/tenants/${TENANT_HOST}/api/v1/tenants/T1`)

    const onRegister = lifecycleAnswering({ status: 201, headers: { location: '/api/v1/tenants/T2' } })
    const created = await onRegister.run({ action: 'tenants:create', method: 'POST', path: '/api/v1/tenants', body: { licenseKey: 'x' } })
    assert.equal(onRegister.sent[0]?.host, 'register.eu.qlikcloud.com')
    assert.equal(created.headers.location, '/regions/eu/api/v1/tenants/T2', 'relative stays relative, on the lifecycle route')
  })

  await it('never hands the caller a Location elsewhere: dropped from an answer, a 502 problem for a redirect', async () => {
    const created = await lifecycleAnswering({ status: 201, headers: { location: 'https://register.eu.qlikcloud.com/api/v1/users/x' } }).run({ action: 'tenants:create', method: 'POST', path: '/api/v1/tenants', body: {} })
    assert.equal(created.headers.location, undefined, 'not a broker route on the register host')
    const foreign = await lifecycleAnswering({ status: 200, headers: { location: 'https://evil.example.com/' } }).run({})
    assert.equal(foreign.headers.location, undefined)
    await assert.rejects(lifecycleAnswering({ status: 302, headers: { location: 'https://other.eu.qlikcloud.com/api/v1/tenants/T1' } }).run({}), (error: unknown) => {
      assert.ok(isBrokerError(error))
      assert.equal(error.code, 'QB_UPSTREAM_REDIRECT_REFUSED')
      assert.equal(error.statusCode, 502)
      assert.doesNotMatch(error.message, /other\.eu/, 'the target is not echoed')
      return true
    })
  })
})
