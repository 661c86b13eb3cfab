import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { call, envelope, mint, startSimulator } from './helpers.js'
import type { QlikSimulator, QlikSimulatorOptions } from '../src/index.js'

// Create-tenant license errors and the deactivate/reactivate rules of
// docs/reference/qlik-cloud-api.md §3.6, §3.7 and §11, each guess both ways.

const DAY_MS = 86_400_000

async function withSimulator (options: QlikSimulatorOptions, body: (sim: QlikSimulator) => Promise<void>): Promise<void> {
  const sim = await startSimulator(options)
  try {
    await body(sim)
  } finally {
    await sim.close()
  }
}

const create = (sim: QlikSimulator, token: string, body: unknown) => call(sim, '/api/v1/tenants', { token, body })

await describe('simulator tenant creation errors (reference §11)', async () => {
  await it('answers 400 TENANTS-21 without a licenseKey and 403 TENANTS-23 for an invalid one, creating nothing', async () => {
    await withSimulator({ licenseKeys: ['lic'] }, async (sim) => {
      const token = await mint(sim)
      for (const body of [{}, { licenseKey: '' }, { licenseKey: '   ' }, { datacenter: 'eu-west-1' }]) {
        const res = await create(sim, token, body)
        assert.equal(res.status, 400, JSON.stringify(body))
        const error = envelope(res)
        assert.equal(error.code, 'TENANTS-21')
        assert.equal(error.status, '400')
        assert.match(error.detail ?? '', /licenseKey/)
      }
      const invalid = await create(sim, token, { licenseKey: 'stolen-or-made-up' })
      assert.equal(invalid.status, 403)
      assert.equal(envelope(invalid).code, 'TENANTS-23')
      assert.equal(envelope(invalid).status, '403')
      assert.deepEqual(sim.tenants(), [])
      assert.equal((await create(sim, token, { licenseKey: 'lic' })).status, 201)
    })
  })

  for (const guess of [undefined, 400, 403] as const) {
    const status = guess ?? 403
    await it(`answers TENANTS-22 with ${status} once a license's tenant quota is used (guessLicenseQuotaStatus ${String(guess)})`, async () => {
      const options: QlikSimulatorOptions = { licenseKeys: ['lic-a', 'lic-b'], tenantQuota: 2 }
      if (guess !== undefined) options.guessLicenseQuotaStatus = guess
      await withSimulator(options, async (sim) => {
        const token = await mint(sim)
        assert.equal((await create(sim, token, { licenseKey: 'lic-a' })).status, 201)
        assert.equal((await create(sim, token, { licenseKey: 'lic-a' })).status, 201)
        const over = await create(sim, token, { licenseKey: 'lic-a' })
        assert.equal(over.status, status)
        assert.equal(envelope(over).code, 'TENANTS-22')
        assert.equal(envelope(over).status, String(status))
        assert.equal(sim.tenants().length, 2, 'the refused create made no tenant')
        assert.equal((await create(sim, token, { licenseKey: 'lic-b' })).status, 201, 'another license has its own quota')
      })
    })
  }

  await it('refuses a bad quota option at start-up', async () => {
    await assert.rejects(startSimulator({ tenantQuota: -1 }), /tenantQuota/)
    await assert.rejects(startSimulator({ guessLicenseQuotaStatus: 500 as 403 }), /guessLicenseQuotaStatus/)
  })
})

await describe('simulator deactivate / reactivate confirm-hostname rule (reference §3.6, §3.7, §11)', async () => {
  for (const guess of [undefined, 'first', 'any'] as const) {
    const onlyFirst = guess !== 'any'
    await it(`deactivate needs ${onlyFirst ? 'the first hostname' : 'any hostname'}, reactivate any of them (guessDeactivateConfirmHostname ${String(guess)})`, async () => {
      await withSimulator(guess === undefined ? {} : { guessDeactivateConfirmHostname: guess }, async (sim) => {
        const tenant = sim.addTenant({ region: 'eu', hostnames: ['gen7x2k.eu.qlikcloud.com', 'acme.eu.qlikcloud.com'] })
        const token = await mint(sim)
        const path = `/api/v1/tenants/${tenant.id}/actions`
        const confirm = (hostname: string): Record<string, string> => ({ 'qlik-confirm-hostname': hostname })

        const byAlias = await call(sim, `${path}/deactivate`, { token, body: {}, headers: confirm('ACME.eu.qlikcloud.com') })
        if (onlyFirst) {
          assert.equal(byAlias.status, 412)
          assert.equal(envelope(byAlias).code, 'HTTP-412')
          assert.equal(sim.getTenant(tenant.id)?.status, 'active', 'a refused deactivate changes nothing')
          assert.equal((await call(sim, `${path}/deactivate`, { token, body: {}, headers: confirm('GEN7X2K.eu.qlikcloud.com') })).status, 200)
        } else {
          assert.equal(byAlias.status, 200)
        }
        assert.equal(sim.getTenant(tenant.id)?.status, 'disabled')

        assert.equal((await call(sim, `${path}/reactivate`, { token, body: {}, headers: confirm('other.eu.qlikcloud.com') })).status, 412)
        const reactivated = await call(sim, `${path}/reactivate`, { token, body: {}, headers: confirm('acme.EU.qlikcloud.com') })
        assert.equal(reactivated.status, 200, 'reactivate accepts one of the hostnames, the alias too')
        assert.equal(sim.getTenant(tenant.id)?.status, 'active')
      })
    })
  }
})

await describe('simulator second deactivate (reference §11: it resets the countdown)', async () => {
  for (const guess of [undefined, true, false] as const) {
    const accepted = guess !== false
    await it(`${accepted ? 'accepts a second deactivate and restarts the purge countdown' : 'refuses a second deactivate with 400, changing nothing'} (guessRedeactivateAccepted ${String(guess)})`, async () => {
      let clock = Date.parse('2026-12-01T00:00:00.000Z')
      const options: QlikSimulatorOptions = { now: () => clock }
      if (guess !== undefined) options.guessRedeactivateAccepted = guess
      await withSimulator(options, async (sim) => {
        const tenant = sim.addTenant({ region: 'eu' })
        const headers = { 'qlik-confirm-hostname': tenant.hostnames[0] as string }
        const path = `/api/v1/tenants/${tenant.id}/actions/deactivate`
        const first = await call(sim, path, { token: await mint(sim), body: { purgeAfterDays: 10 }, headers })
        assert.equal(first.status, 200)
        assert.equal(first.body.estimatedPurgeDate, new Date(clock + 10 * DAY_MS).toISOString())
        const disabledSince = sim.getTenant(tenant.id)?.statusLastUpdatedAt

        clock += 3 * DAY_MS
        const again = await call(sim, path, { token: await mint(sim), method: 'POST', headers })
        if (accepted) {
          assert.equal(again.status, 200)
          assert.deepEqual(again.body, { id: tenant.id, status: 'disabled', estimatedPurgeDate: new Date(clock + 30 * DAY_MS).toISOString() })
        } else {
          assert.equal(again.status, 400)
          assert.equal(envelope(again).status, '400')
        }
        assert.equal(sim.getTenant(tenant.id)?.status, 'disabled')
        assert.equal(sim.getTenant(tenant.id)?.statusLastUpdatedAt, disabledSince, 'still disabled since the first deactivate')
      })
    })
  }
})
