import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { findActiveBotUser, findInactiveBotUsers } from '../../src/bot-users/discovery.js'
import type { QlikCall } from '../../src/bot-users/owned-content.js'
import { listAll, type QlikAnswer, type TenantCalls } from '../../src/bot-users/tenant-calls.js'

// Discovery against answers the simulator does not give: Qlik documents
// `GET /api/v1/users/me` as a redirect (docs/reference/qlik-cloud-api.md §11),
// and paging links are followed only on the tenant's own host.

const HOST = 'acme.eu.qlikcloud.com'

function fakeTenant (answer: (call: QlikCall) => QlikAnswer): TenantCalls & { calls: QlikCall[] } {
  const calls: QlikCall[] = []
  return { host: HOST, calls, async call (call) { calls.push(call); return answer(call) } }
}

const ok = (json: unknown): QlikAnswer => ({ status: 200, json, error: undefined, redirectPath: undefined })

await describe('bot-user discovery', async () => {
  await it('follows the users/me redirect on the same host to the bot user, and trusts it over the client id', async () => {
    const tenant = fakeTenant((call) => call.path === '/api/v1/users/me'
      ? { status: 302, json: undefined, error: undefined, redirectPath: '/api/v1/users/bot-new' }
      : call.path === '/api/v1/users/bot-new'
        ? ok({ id: 'bot-new', subject: 'qlikbot\\new-client', clientId: 'new-client' })
        : ok({ data: [{ id: 'bot-old', subject: 'qlikbot\\old-client', clientId: 'old-client' }] }))
    assert.deepEqual(await findActiveBotUser(tenant, 'old-client'), { id: 'bot-new', subject: 'qlikbot\\new-client', clientId: 'new-client' })
    assert.deepEqual(tenant.calls.map((call) => call.path), ['/api/v1/users/me', '/api/v1/users/bot-new'])
  })

  await it('finds the active bot user by the current client id when users/me answers with a redirect it cannot follow', async () => {
    const tenant = fakeTenant((call) => call.path === '/api/v1/users/me'
      ? { status: 302, json: undefined, error: undefined, redirectPath: undefined }
      : ok({ data: [{ id: 'bot-new', subject: 'qlikbot\\new-client', clientId: 'new-client' }] }))
    assert.deepEqual(await findActiveBotUser(tenant, 'new-client'), { id: 'bot-new', subject: 'qlikbot\\new-client', clientId: 'new-client' })
    assert.equal(decodeURIComponent(tenant.calls[1]?.path ?? ''), '/api/v1/users?filter=clientId eq "new-client"')
    await assert.rejects(findActiveBotUser(fakeTenant(() => ({ status: 302, json: undefined, error: undefined, redirectPath: undefined })), undefined), /cannot read the active bot user/)
  })

  await it('takes every qlikbot user but the active one, and users of client ids in the history', async () => {
    const active = { id: 'bot-new', subject: 'qlikbot\\new-client', clientId: 'new-client' }
    const tenant = fakeTenant(() => ok({
      data: [
        active,
        { id: 'bot-old', subject: 'qlikbot\\old-client', clientId: 'old-client' },
        { id: 'bot-older', subject: 'qlikbot\\older-client' },
        { id: 'twin', subject: 'qlikbot\\new-client-copy', clientId: 'new-client' }
      ]
    }))
    const found = await findInactiveBotUsers(tenant, active, ['older-client'])
    assert.deepEqual(found.map((user) => user.id), ['bot-old', 'bot-older'])
    assert.equal(decodeURIComponent(tenant.calls[0]?.path ?? ''), '/api/v1/users?filter=subject sw "qlikbot\\\\" or clientId eq "older-client"&limit=100')
  })

  await it('follows paging links on the tenant\'s host only: a link elsewhere would carry the token away', async () => {
    const tenant = fakeTenant((call) => call.path.includes('page=2')
      ? ok({ data: [{ id: 'b' }], links: { next: { href: 'https://evil.example.com/api/v1/spaces?page=3' } } })
      : ok({ data: [{ id: 'a' }], links: { next: { href: `https://${HOST}/api/v1/spaces?page=2` } } }))
    const entries = await listAll(tenant, '/api/v1/spaces?ownerId=x')
    assert.deepEqual(entries.map((entry) => entry.id), ['a', 'b'])
    assert.deepEqual(tenant.calls.map((call) => call.path), ['/api/v1/spaces?ownerId=x', '/api/v1/spaces?page=2'])
    await assert.rejects(listAll(fakeTenant(() => ({ status: 403, json: undefined, error: 'HTTP 403 HTTP-403', redirectPath: undefined })), '/api/v1/spaces'), /listing \/api\/v1\/spaces on acme\.eu\.qlikcloud\.com failed: HTTP 403/)
  })
})
