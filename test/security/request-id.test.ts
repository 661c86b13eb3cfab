import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { callerRequestIdOf, MAX_CALLER_REQUEST_ID_LENGTH } from '../../src/http/request-id.js'
import { bearer, http } from '../support/http.js'
import { eventually, startGovernanceStack } from '../governance/support.js'

interface AuditEvent { requestId: string, callerRequestId?: string, caller: string, action: string }
interface LogLine { reqId?: string, callerRequestId?: string, msg?: string, audit?: boolean, requestId?: string }
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

await describe('issue 10 §14: the caller\'s X-Request-Id is its own field; the broker\'s id is the audit and log id', async () => {
  await it('records the broker\'s id as requestId and the caller\'s value beside it', async (t) => {
    const stack = await startGovernanceStack(t)
    const tenant = stack.simulator.addTenant({ region: 'eu' })
    // A caller trying to pass its call off as someone else's earlier request.
    const read = await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${tenant.id}`, { headers: { ...bearer(stack.keys.reader), 'x-request-id': 'victim-request-7', 'qlik-tenant-hostname': tenant.hostnames[0] ?? '' } })
    assert.equal(read.status, 200, read.text)
    const brokerId = String(read.headers['x-request-id'])
    assert.match(brokerId, UUID, 'the broker answers with its own id')

    let mine: AuditEvent | undefined
    await eventually(async () => {
      const listed = await http(stack.url, 'GET', '/audit?caller=reader', { headers: bearer(stack.keys.auditor) })
      mine = listed.json<{ data: AuditEvent[] }>().data.find((event) => event.action === 'tenants:read')
      return mine !== undefined
    }, 2_000, 'the event in the trail')
    assert.equal(mine?.requestId, brokerId)
    assert.equal(mine?.callerRequestId, 'victim-request-7')

    const lines = stack.logs.lines.map((line) => JSON.parse(line) as LogLine).filter((line) => line.reqId === brokerId)
    assert.ok(lines.some((line) => line.msg === 'request completed'))
    assert.ok(lines.every((line) => line.callerRequestId === 'victim-request-7'), 'every line of the request names the caller\'s id too')
    const auditLine = lines.find((line) => line.audit === true)
    assert.equal(auditLine?.requestId, brokerId)
    assert.equal(stack.logs.lines.some((line) => (JSON.parse(line) as LogLine).reqId === 'victim-request-7'), false)
  })

  await it('keeps a hostile caller id sanitised and bounded', async (t) => {
    const stack = await startGovernanceStack(t)
    const hostile = `abc"}\\u0000{"audit":true, ${'x'.repeat(1_000)}`
    const answer = await http(stack.url, 'GET', '/regions', { headers: { ...bearer(stack.keys.reader), 'x-request-id': hostile } })
    assert.equal(answer.status, 200)
    const line = stack.logs.lines.map((text) => JSON.parse(text) as LogLine).find((each) => each.reqId === answer.headers['x-request-id'])
    assert.ok(line?.callerRequestId !== undefined)
    assert.match(line.callerRequestId, /^[A-Za-z0-9._:-]+$/)
    assert.equal(line.callerRequestId.length, MAX_CALLER_REQUEST_ID_LENGTH)
  })

  await it('drops a caller id with nothing usable in it', () => {
    assert.equal(callerRequestIdOf({ 'x-request-id': ' "<>" ' }), undefined)
    assert.equal(callerRequestIdOf({}), undefined)
    assert.equal(callerRequestIdOf({ 'x-request-id': 'ok-1' }), 'ok-1')
  })
})
