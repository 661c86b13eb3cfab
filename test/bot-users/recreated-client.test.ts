import assert from 'node:assert/strict'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { botUserId, mint } from '../simulator/helpers.js'
import { api, movable, startBotUserStack, TENANT_HOSTS, waitForJob } from './support.js'

/**
 * The whole chore end to end, as an operator meets it: the broker works with
 * the region's client, the client is deleted and recreated in My Qlik (the
 * simulator's control action: new id and secret, old tokens dead, the old bot
 * user keeps its content), the new pair is written where the broker reads its
 * secrets, and one migration moves what the old bot user owns.
 */
await describe('bot-user migration after the client is recreated', async () => {
  await it('finds the old client\'s bot user through the client history and moves all it owns to the new bot user', async (t) => {
    const stack = await startBotUserStack(t)
    const host = TENANT_HOSTS[0]
    const tenant = stack.simulator.addTenant({ region: 'eu', hostnames: [host] })
    const secretFile = join(stack.secretsDir, 'eu.json')
    const old = JSON.parse(readFileSync(secretFile, 'utf8')) as { client_id: string, client_secret: string }

    // The old client's bot user appears on its first token request on the tenant, and comes to own content.
    const oldBotId = await botUserId(stack.simulator, host, await mint(stack.simulator, host, old.client_secret, old.client_id))
    stack.simulator.seedContent(tenant.id, { ownerId: oldBotId, apps: 2, spaces: 2, dataFiles: 2, automations: 1, automationConnections: 1 })
    // The broker has used the old client (its secret was read at start).
    const before = await api(stack, stack.keys.admin, 'GET', '/regions/eu')
    assert.equal(before.body.clients.currentClientId, old.client_id)

    const recreated = stack.simulator.recreateClient('eu')
    writeFileSync(`${secretFile}.tmp`, JSON.stringify({ client_id: recreated.clientId, client_secret: recreated.clientSecret }))
    renameSync(`${secretFile}.tmp`, secretFile)

    const plan = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/plan', { tenants: [host] })
    assert.equal(plan.status, 200, JSON.stringify(plan.body))
    const [planned] = plan.body.tenants
    assert.equal(planned.activeBotUser.subject, `qlikbot\\${recreated.clientId}`)
    assert.deepEqual(planned.inactiveBotUsers.map((user: { id: string, subject: string }) => [user.id, user.subject]), [[oldBotId, `qlikbot\\${old.client_id}`]])
    assert.equal(planned.items.length, 8)
    assert.deepEqual(movable(stack.simulator, tenant.id).filter((item) => item.ownerChanges > 0), [], 'a plan moves nothing')

    const started = await api(stack, stack.keys.admin, 'POST', '/regions/eu/bot-users/jobs', { tenants: [host] })
    assert.equal(started.status, 202, JSON.stringify(started.body))
    const job = await waitForJob(async () => await api(stack, stack.keys.admin, 'GET', `/regions/eu/bot-users/jobs/${started.body.id as string}`))
    assert.deepEqual(job.totals, { found: 8, moved: 8, failed: 0, remaining: 0 })
    const after = movable(stack.simulator, tenant.id)
    assert.deepEqual(after.map((item) => [item.ownerId, item.ownerChanges]), after.map(() => [planned.activeBotUser.id, 1]), 'everything moved once to the new bot user')

    // The region shows the old client id in its history, and never a secret.
    const region = await api(stack, stack.keys.admin, 'GET', '/regions/eu')
    assert.equal(region.body.clients.currentClientId, recreated.clientId)
    assert.deepEqual(region.body.clients.previous.map((entry: { clientId: string }) => entry.clientId), [old.client_id])
    const seen = JSON.stringify([plan.body, job, region.body]) + stack.logs.text()
    for (const secret of [old.client_secret, recreated.clientSecret]) assert.equal(seen.includes(secret), false)
  })
})
