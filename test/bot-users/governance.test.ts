import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { startStack } from '../support/stack.js'
import { FAST_ENV, FAST_SIMULATOR, TENANT_HOSTS, api, botUserCallers, movable, seedTenants, startBotUserStack, waitForJob } from './support.js'

// Issue 11 §6 and the job's edges, in process (no Redis): policy per tenant,
// bad input, one job per tenant, cancel, delete per kind.

await describe('bot-user migration: policy, input and job control', async () => {
  await it('refuses a plan or a job on any tenant the caller may not migrate, changes nothing, and audits the refusal', async (t) => {
    const stack = await startBotUserStack(t)
    const tenants = seedTenants(stack.simulator, 1)
    const before = tenants.map((tenant) => movable(stack.simulator, tenant.id))

    for (const path of ['/regions/eu/bot-users/plan', '/regions/eu/bot-users/jobs']) {
      // `partial` may migrate on the first tenant only.
      const partial = await api(stack, stack.keys.reader, 'POST', path, { tenants: [...TENANT_HOSTS] })
      assert.equal(partial.status, 403, path)
      assert.equal(partial.body.code, 'QB_FORBIDDEN')
      assert.match(partial.body.detail, new RegExp(TENANT_HOSTS[1].replaceAll('.', '\\.')))
      // Read-only and grant-less callers cannot plan or apply anywhere.
      for (const key of [stack.keys.creator, stack.keys.nobody]) {
        const refused = await api(stack, key, 'POST', path, { tenants: [TENANT_HOSTS[0]] })
        assert.equal(refused.status, 403, path)
      }
    }
    assert.deepEqual(tenants.map((tenant) => movable(stack.simulator, tenant.id)), before)
    assert.deepEqual((await api(stack, stack.keys.admin, 'GET', '/regions/eu/bot-users/jobs')).body.data, [])

    // On its own tenant the partial caller may apply; the moves are audited under its name.
    const own = await api(stack, stack.keys.reader, 'POST', '/regions/eu/bot-users/jobs', { tenants: [TENANT_HOSTS[0]] })
    assert.equal(own.status, 202, JSON.stringify(own.body))
    const job = await waitForJob(() => api(stack, stack.keys.reader, 'GET', `/regions/eu/bot-users/jobs/${own.body.id as string}`))
    assert.deepEqual(job.totals, { found: 5, moved: 5, failed: 0, remaining: 0 })
    assert.deepEqual(movable(stack.simulator, tenants[1]?.id ?? '').filter((item) => item.ownerChanges > 0), [])

    const governance = stack.broker.deps.governance
    assert.ok(governance !== undefined)
    const events = (await governance.audit.query({ limit: 500 }, () => true)).events
    const denied = events.filter((event) => event.outcome === 'denied' && event.action.startsWith('bot-users:'))
    assert.deepEqual([...new Set(denied.map((event) => event.caller))].sort(), ['nobody', 'onlooker', 'partial'])
    const moves = events.filter((event) => event.action === 'bot-users:migrate')
    assert.equal(moves.length, 5)
    assert.ok(moves.every((event) => event.caller === 'partial' && event.tenant === TENANT_HOSTS[0]))
    // A reader of jobs sees the job; it cannot cancel it without bot-users:migrate.
    assert.equal((await api(stack, stack.keys.creator, 'GET', `/regions/eu/bot-users/jobs/${own.body.id as string}`)).status, 200)
    assert.equal((await api(stack, stack.keys.creator, 'POST', `/regions/eu/bot-users/jobs/${own.body.id as string}/cancel`)).status, 403)
    assert.equal((await api(stack, stack.keys.nobody, 'GET', `/regions/eu/bot-users/jobs/${own.body.id as string}`)).status, 404)
  })

  await it('without tenants named, covers every tenant the broker\'s registry knows in the region', async (t) => {
    const stack = await startBotUserStack(t)
    const tenants = seedTenants(stack.simulator, 1)
    const governance = stack.broker.deps.governance
    assert.ok(governance !== undefined)
    // The first two were created through the broker (its registry); the third was not.
    for (const [index, tenant] of tenants.slice(0, 2).entries()) {
      const at = new Date(Date.UTC(2026, 0, 1 + index)).toISOString()
      await governance.registry.record({ id: tenant.id, name: `t${index}`, hostnames: [tenant.host], region: 'eu', status: 'active', createdBy: 'provisioning', createdAt: at, updatedAt: at })
    }
    const plan = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/plan', {})
    assert.equal(plan.status, 200, JSON.stringify(plan.body))
    assert.deepEqual(plan.body.tenants.map((entry: { host: string }) => entry.host), [tenants[0]?.host, tenants[1]?.host])
    assert.deepEqual(plan.body.totals, { tenants: 2, items: 10 })
    // Named by id, a registered tenant resolves to its host without asking Qlik.
    const byId = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/plan', { tenants: [tenants[0]?.id] })
    assert.equal(byId.body.tenants[0].host, tenants[0]?.host)
  })

  await it('stops a running job on a tenant once a config reload takes the caller\'s bot-users:migrate away', async (t) => {
    // One move every 2 s: time to change the grants while the job runs.
    const stack = await startStack(t, { env: { ...FAST_ENV, QLIK_TIER2_LIMIT: '60/60s' }, simulator: FAST_SIMULATOR, callers: botUserCallers })
    const [tenant] = seedTenants(stack.simulator, 2, [TENANT_HOSTS[0]])
    assert.ok(tenant !== undefined)
    const started = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/jobs', { tenants: [tenant.host] })
    assert.equal(started.status, 202)
    const governance = stack.broker.deps.governance
    assert.ok(governance !== undefined)
    const callers = governance.callers.current().callers
    governance.callers.replace(callers.map((caller) => caller.name === 'migrator' ? { ...caller, grants: caller.grants.map((grant) => ({ ...grant, actions: ['bot-users:read' as const] })) } : caller))
    const job = await waitForJob(() => api(stack, stack.keys.admin, 'GET', `/regions/eu/bot-users/jobs/${started.body.id as string}`))
    assert.equal(job.tenants[0].phase, 'failed')
    assert.match(job.tenants[0].error, /no longer has bot-users:migrate/)
    assert.ok(job.totals.moved < 10)
    assert.equal(movable(stack.simulator, tenant.id).filter((item) => item.ownerChanges > 0).length, job.totals.moved)
  })

  await it('answers bad input with a problem naming what was wrong, and changes nothing', async (t) => {
    const stack = await startBotUserStack(t)
    const tenants = seedTenants(stack.simulator, 1)
    const before = tenants.map((tenant) => movable(stack.simulator, tenant.id))
    const cases: Array<[string, unknown, number, string]> = [
      ['/regions/eu/bot-users/jobs', { tenants: [TENANT_HOSTS[0]], delete: ['sheets'] }, 400, 'QB_INVALID_REQUEST'],
      ['/regions/eu/bot-users/jobs', { tenants: ['acme.us.qlikcloud.com'] }, 400, 'QB_INVALID_TENANT'],
      ['/regions/eu/bot-users/plan', { tenants: [TENANT_HOSTS[0]], everything: true }, 400, 'QB_INVALID_REQUEST'],
      ['/regions/eu/bot-users/plan', { tenants: [] }, 400, 'QB_INVALID_REQUEST'],
      ['/regions/mars/bot-users/plan', { tenants: [TENANT_HOSTS[0]] }, 404, 'QB_UNKNOWN_REGION'],
      // No tenant named and none in the broker's registry.
      ['/regions/eu/bot-users/jobs', {}, 400, 'QB_INVALID_REQUEST']
    ]
    for (const [path, body, status, code] of cases) {
      const answer = await api(stack, stack.keys.admin, 'POST', path, body)
      assert.equal(answer.status, status, `${path} ${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`)
      assert.equal(answer.body.code, code)
      assert.ok(answer.body.detail.length > 0)
    }
    assert.equal((await api(stack, stack.keys.admin, 'GET', '/regions/eu/bot-users/jobs/not-a-uuid')).status, 400)
    const unknown = await api(stack, stack.keys.admin, 'GET', '/regions/eu/bot-users/jobs/8d0f5a36-1b6e-4d55-9d43-0b8c2f1f4f11')
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.code, 'QB_JOB_NOT_FOUND')
    assert.deepEqual(tenants.map((tenant) => movable(stack.simulator, tenant.id)), before)
    assert.deepEqual((await api(stack, stack.keys.admin, 'GET', '/regions/eu/bot-users/jobs')).body.data, [])
  })

  await it('deletes the kinds the operator chose and moves the rest', async (t) => {
    const stack = await startBotUserStack(t)
    const [tenant] = seedTenants(stack.simulator, 2, [TENANT_HOSTS[0]])
    assert.ok(tenant !== undefined)
    const plan = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/plan', { tenants: [tenant.host], delete: ['automation', 'automation-connection'] })
    const deletes = plan.body.tenants[0].items.filter((item: { action: string }) => item.action === 'delete')
    assert.deepEqual(deletes.map((item: { call: { method: string } }) => item.call.method), ['DELETE', 'DELETE', 'DELETE', 'DELETE'])
    const started = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/jobs', { tenants: [tenant.host], delete: ['automation', 'automation-connection'] })
    const job = await waitForJob(() => api(stack, stack.keys.admin, 'GET', `/regions/eu/bot-users/jobs/${started.body.id as string}`))
    assert.deepEqual(job.totals, { found: 10, moved: 10, failed: 0, remaining: 0 })
    const state = stack.simulator.content(tenant.id)
    assert.equal(state.automations.length, 0)
    assert.equal(state.automationConnections.length, 0)
    assert.ok([...state.apps, ...state.spaces, ...state.dataFiles].every((item) => item.ownerId !== tenant.oldBotId))
  })

  await it('runs one job per tenant at a time, and a cancelled job stops, keeps what it moved and frees the tenant', async (t) => {
    // Tier 2 at 60/min and half of it for the job: one move every 2 s, slow enough to act while it runs.
    const stack = await startStack(t, { env: { ...FAST_ENV, QLIK_TIER2_LIMIT: '60/60s' }, simulator: FAST_SIMULATOR, callers: botUserCallers })
    const [tenant] = seedTenants(stack.simulator, 2, [TENANT_HOSTS[0]])
    assert.ok(tenant !== undefined)
    const first = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/jobs', { tenants: [tenant.host] })
    assert.equal(first.status, 202)
    const second = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/jobs', { tenants: [tenant.host, TENANT_HOSTS[1]] })
    assert.equal(second.status, 409)
    assert.equal(second.body.code, 'QB_JOB_CONFLICT')
    assert.match(second.body.detail, new RegExp(first.body.id as string))

    let running = await api(stack, stack.keys.admin, 'GET', `/regions/eu/bot-users/jobs/${first.body.id as string}`)
    // Discovery first (reads only); then the items and their ETA are known.
    while (running.body.totals.found === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      running = await api(stack, stack.keys.admin, 'GET', `/regions/eu/bot-users/jobs/${first.body.id as string}`)
    }
    assert.equal(running.body.status, 'running')
    assert.ok(running.body.etaSeconds > 0, 'an ETA from the job\'s share of the Tier 2 budget')
    const cancelled = await api(stack, stack.keys.admin, 'POST', `/regions/eu/bot-users/jobs/${first.body.id as string}/cancel`)
    assert.equal(cancelled.status, 200)
    const job = await waitForJob(() => api(stack, stack.keys.admin, 'GET', `/regions/eu/bot-users/jobs/${first.body.id as string}`))
    assert.equal(job.status, 'cancelled')
    assert.ok(job.totals.moved < 10, `stopped early: ${JSON.stringify(job.totals)}`)
    const moved = movable(stack.simulator, tenant.id).filter((item) => item.ownerChanges > 0)
    assert.equal(moved.length, job.totals.moved)

    const third = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/plan', { tenants: [tenant.host] })
    assert.equal(third.body.tenants[0].items.length, 10 - job.totals.moved)
    assert.equal((await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/jobs', { tenants: [tenant.host] })).status, 202)
    await stack.broker.close()
  })
})
