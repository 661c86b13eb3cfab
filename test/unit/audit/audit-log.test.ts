import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fromFields, toFields, type AuditRecord } from '../../../src/audit/audit-log.js'

const record: AuditRecord = { time: '2026-01-01T00:00:00.000Z', requestId: 'r-1', callerRequestId: 'c-1', caller: 'svc', region: 'eu', tenant: 't1', tenantHostname: 'acme.eu.qlikcloud.com', action: 'tenant-api', outcome: 'allowed', upstreamStatus: 200, durationMs: 3, method: 'GET', path: '/api/v1/users' }

await describe('audit stream entries', async () => {
  await it('round-trips every named field through the one JSON field', () => {
    const fields = toFields(record)
    assert.equal(fields.length, 2)
    assert.deepEqual(fromFields(fields), record)
  })

  await it('stores only the named fields, whatever else the event object carries', () => {
    const carrying = { ...record, accessToken: 'secret-token', nested: { token: 'x' } } as unknown as AuditRecord
    const [, json] = toFields(carrying)
    assert.doesNotMatch(json ?? '', /secret-token|nested/)
    assert.deepEqual(fromFields(toFields(carrying)), record)
  })

  await it('reads an entry written one field per name, as brokers before wrote them', () => {
    const old = ['time', record.time, 'requestId', 'r-1', 'caller', 'svc', 'region', 'eu', 'action', 'tenant-api', 'outcome', 'denied', 'durationMs', '5']
    assert.deepEqual(fromFields(old), { time: record.time, requestId: 'r-1', caller: 'svc', region: 'eu', action: 'tenant-api', outcome: 'denied', durationMs: 5 })
  })

  await it('refuses an entry that is not an audit event: bad JSON, a missing field, an unknown outcome', () => {
    assert.equal(fromFields(['event', '{not json']), undefined)
    assert.equal(fromFields(['event', '[1,2]']), undefined)
    assert.equal(fromFields(['event', JSON.stringify({ ...record, requestId: undefined })]), undefined)
    assert.equal(fromFields(['event', JSON.stringify({ ...record, outcome: 'maybe' })]), undefined)
    assert.equal(fromFields(['event', JSON.stringify({ ...record, caller: 7 })]), undefined)
  })
})
