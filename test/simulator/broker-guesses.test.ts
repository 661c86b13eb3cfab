import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bearer, http } from '../support/http.js'
import { startStack } from '../support/stack.js'
import type { QlikSimulatorOptions } from '@qlik-broker/qlik-cloud-simulator'

// The broker against the simulator's guesses about undocumented tenant
// behaviour (docs/reference/qlik-cloud-api.md §11), each guess both ways:
// whatever Qlik turns out to do, the caller gets Qlik's answer unchanged.

interface Way {
  label: string
  simulator: QlikSimulatorOptions
  quotaStatus: number
  aliasConfirmsDeactivate: boolean
  redeactivateStatus: number
}

const WAYS: Way[] = [
  {
    label: 'defaults (quota 403, deactivate by the first hostname, second deactivate accepted)',
    simulator: { tenantQuota: 2 },
    quotaStatus: 403,
    aliasConfirmsDeactivate: false,
    redeactivateStatus: 200
  },
  {
    label: 'the other way (quota 400, deactivate by any hostname, second deactivate refused)',
    simulator: { tenantQuota: 2, guessLicenseQuotaStatus: 400, guessDeactivateConfirmHostname: 'any', guessRedeactivateAccepted: false },
    quotaStatus: 400,
    aliasConfirmsDeactivate: true,
    redeactivateStatus: 400
  }
]

const codeOf = (text: string): string | undefined => (JSON.parse(text) as { errors?: Array<{ code?: string }> }).errors?.[0]?.code

await describe('broker × simulator guesses on tenant lifecycle', async () => {
  for (const way of WAYS) {
    await it(`passes Qlik's answers through under ${way.label}`, async (t) => {
      const stack = await startStack(t, { simulator: way.simulator })
      const admin = bearer(stack.keys.admin)
      const create = (): ReturnType<typeof http> => http(stack.url, 'POST', '/regions/eu/api/v1/tenants', { headers: admin, body: { licenseKey: 'lk' } })

      const first = await create()
      assert.equal(first.status, 201, first.text)
      assert.equal((await create()).status, 201)
      const over = await create()
      assert.equal(over.status, way.quotaStatus, over.text)
      assert.equal(codeOf(over.text), 'TENANTS-22')
      assert.equal(stack.simulator.tenants().length, 2)

      const tenant = first.json<{ id: string, hostnames: string[] }>()
      const hostname = tenant.hostnames[0] ?? ''
      const alias = `acme-${tenant.id.slice(0, 8).toLowerCase()}.eu.qlikcloud.com`
      const patched = await http(stack.url, 'PATCH', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: admin, body: [{ op: 'replace', path: '/hostnames/1', value: alias }] })
      assert.equal(patched.status, 204, patched.text)

      const deactivate = (confirm: string): ReturnType<typeof http> =>
        http(stack.url, 'POST', `/regions/eu/api/v1/tenants/${tenant.id}/actions/deactivate`, { headers: { ...admin, 'qlik-confirm-hostname': confirm }, body: {} })
      const byAlias = await deactivate(alias)
      if (way.aliasConfirmsDeactivate) {
        assert.equal(byAlias.status, 200, byAlias.text)
      } else {
        assert.equal(byAlias.status, 412, byAlias.text)
        assert.equal(stack.simulator.getTenant(tenant.id)?.status, 'active')
        assert.equal((await deactivate(hostname)).status, 200)
      }
      assert.equal(stack.simulator.getTenant(tenant.id)?.status, 'disabled')

      const again = await deactivate(hostname)
      assert.equal(again.status, way.redeactivateStatus, again.text)
      assert.equal(stack.simulator.getTenant(tenant.id)?.status, 'disabled')
    })
  }
})
