import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createTenant, deactivateTenant, getTenant, patchTenant, reactivateTenant } from '@qlik/api/tenants'
import { getMyUser } from '@qlik/api/users'
import { startStack } from '../support/stack.js'

/**
 * The promise to callers: Qlik's own SDK works unchanged when pointed at
 * `<broker>/regions/<region>` with the broker key as an API key.
 */
await describe('@qlik/api against the broker', async () => {
  await it('drives the whole tenant lifecycle and a tenant-level call with the official SDK', async (t) => {
    const stack = await startStack(t)
    const hostConfig = { host: `${stack.url}/regions/eu`, authType: 'apikey' as const, apiKey: stack.keys.admin }

    const created = await createTenant({ licenseKey: 'sdk-license' }, { hostConfig })
    assert.equal(created.status, 201)
    const tenant = created.data
    assert.ok(tenant.id !== '' && stack.simulator.getTenant(tenant.id) !== undefined)
    const hostname = tenant.hostnames?.[0] ?? ''

    const read = await getTenant(tenant.id, { hostConfig, noCache: true })
    assert.equal(read.data.id, tenant.id)

    const patched = await patchTenant(tenant.id, [{ op: 'replace', path: '/name', value: 'sdk-renamed' }], { hostConfig })
    assert.equal(patched.status, 204)
    assert.equal(stack.simulator.getTenant(tenant.id)?.name, 'sdk-renamed')

    const deactivated = await deactivateTenant(tenant.id, { purgeAfterDays: 30 }, { hostConfig, headers: { 'qlik-confirm-hostname': hostname } })
    assert.equal(deactivated.data.status, 'disabled')
    const reactivated = await reactivateTenant(tenant.id, {}, { hostConfig, headers: { 'qlik-confirm-hostname': hostname } })
    assert.equal(reactivated.status, 200)
    assert.equal(stack.simulator.getTenant(tenant.id)?.status, 'active')

    const tenantHostConfig = { host: `${stack.url}/regions/eu/tenants/${tenant.id}`, authType: 'apikey' as const, apiKey: stack.keys.admin }
    const me = await getMyUser({ hostConfig: tenantHostConfig })
    assert.equal(me.data.subject, 'qlikbot\\demo-eu-client')
  })

  await it('surfaces the broker\'s refusal through the SDK\'s error with Qlik\'s errors[] envelope', async (t) => {
    const stack = await startStack(t)
    const hostConfig = { host: `${stack.url}/regions/eu`, authType: 'apikey' as const, apiKey: stack.keys.reader }
    await assert.rejects(createTenant({ licenseKey: 'x' }, { hostConfig }), (error: { status?: number, data?: { errors?: Array<{ code: string }> } }) => {
      assert.equal(error.status, 403)
      assert.equal(error.data?.errors?.[0]?.code, 'QB_FORBIDDEN')
      return true
    })
  })
})
