import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { gzipSync } from 'node:zlib'
import { errors as undiciErrors } from 'undici'
import { stringify } from 'yaml'
import type { AuditLog } from '../../src/audit/audit-log.js'
import { createAuditTrail } from '../../src/audit/audit-trail.js'
import { createApiKeyVerifier } from '../../src/auth/api-key-verifier.js'
import { createApiKey } from '../../src/auth/api-keys.js'
import type { Caller, CallerVerifier } from '../../src/auth/caller.js'
import { evaluatePolicy, mayAllowForSomeTenant } from '../../src/auth/policy.js'
import { loadConfig } from '../../src/config/load-config.js'
import { GrantSchema, type CallerConfig } from '../../src/config/schema.js'
import { BrokerError } from '../../src/http/broker-error.js'
import { readJsonBody } from '../../src/idempotency/captured-answer.js'
import { answerIsFinal, outcomeOfFailure } from '../../src/idempotency/idempotency.js'
import { parseIdempotencyKey, requestFingerprint, storageKey } from '../../src/idempotency/idempotency-key.js'
import { createCallerDirectory, createReloadingVerifier, withCurrentGrants } from '../../src/registry/caller-directory.js'
import { startConfigReloader } from '../../src/registry/config-reloader.js'
import { changeFromAnswer, tenantFromCreated } from '../../src/registry/registry-recorder.js'
import { decodeCursor, encodeCursor } from '../../src/registry/tenant-registry.js'
import { captureLogs } from '../support/log-capture.js'

const callerWith = (...grants: unknown[]): Caller => ({ name: 'svc', via: 'api-key', grants: grants.map((grant) => GrantSchema.parse(grant)) })

await describe('Idempotency-Key parsing and fingerprints', async () => {
  await it('accepts 1 to 255 printable characters, bare or as a structured-field string, and refuses the rest with 400', () => {
    assert.equal(parseIdempotencyKey(undefined), undefined)
    assert.equal(parseIdempotencyKey('a'), 'a')
    assert.equal(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"'), '8e03978e-40d5-43e8-bc93-6894a57f9324')
    assert.equal(parseIdempotencyKey('x'.repeat(255)), 'x'.repeat(255))
    for (const bad of ['', '""', 'x'.repeat(256), 'é', 'a\u0000b', ['a', 'b']]) {
      assert.throws(() => parseIdempotencyKey(bad), (error: unknown) => error instanceof BrokerError && error.statusCode === 400 && error.issues[0]?.pointer === '/headers/idempotency-key', JSON.stringify(bad))
    }
  })

  await it('namespaces keys per caller and hashes them', () => {
    assert.notEqual(storageKey('a', 'k'), storageKey('b', 'k'))
    assert.match(storageKey('a', 'k {}*'), /^a:[0-9a-f]{64}$/)
  })

  await it('gives the same fingerprint to the same request whatever its JSON member order, and another to any other request', () => {
    const base = { caller: 'svc', method: 'POST', url: '/regions/eu/api/v1/tenants', body: { licenseKey: 'a', datacenter: 'eu-west-1' } }
    const same = requestFingerprint(base)
    assert.equal(requestFingerprint({ ...base, method: 'post', body: { datacenter: 'eu-west-1', licenseKey: 'a' } }), same)
    for (const other of [{ ...base, caller: 'other' }, { ...base, method: 'PATCH' }, { ...base, url: '/regions/us/api/v1/tenants' }, { ...base, body: { licenseKey: 'b' } }, { ...base, confirmHostname: 'a.eu.qlikcloud.com' }, { ...base, body: Buffer.from('{"licenseKey":"a"}') }]) {
      assert.notEqual(requestFingerprint(other), same, JSON.stringify(other))
    }
  })
})

await describe('the storing rule', async () => {
  await it('stores every answer Qlik gave except those that say it did not act (401, 408, 429)', () => {
    for (const status of [200, 201, 204, 400, 403, 404, 409, 412, 500, 502, 503]) assert.equal(answerIsFinal(status), true, String(status))
    for (const status of [401, 408, 429]) assert.equal(answerIsFinal(status), false, String(status))
  })

  await it('calls a timeout or a connection lost after sending unknown, and a refusal before sending not sent', () => {
    const cause = (code: string): Error => Object.assign(new Error(code), { code })
    assert.equal(outcomeOfFailure(new BrokerError('QB_UPSTREAM_TIMEOUT', 'late', { cause: new undiciErrors.HeadersTimeoutError() })), 'unknown')
    assert.equal(outcomeOfFailure(new BrokerError('QB_UPSTREAM_UNREACHABLE', 'reset', { cause: cause('UND_ERR_SOCKET') })), 'unknown')
    assert.equal(outcomeOfFailure(new BrokerError('QB_UPSTREAM_UNREACHABLE', 'reset', { cause: cause('ECONNRESET') })), 'unknown')
    assert.equal(outcomeOfFailure(new Error('a broker bug')), 'unknown', 'an unexpected failure may have come after sending')
    assert.equal(outcomeOfFailure(new BrokerError('QB_UPSTREAM_UNREACHABLE', 'refused', { cause: cause('ECONNREFUSED') })), 'not-sent')
    assert.equal(outcomeOfFailure(new BrokerError('QB_UPSTREAM_UNREACHABLE', 'slow connect', { cause: cause('UND_ERR_CONNECT_TIMEOUT') })), 'not-sent')
    for (const code of ['QB_FORBIDDEN', 'QB_CREDENTIALS_UNAVAILABLE', 'QB_TOKEN_UNAVAILABLE', 'QB_CREDENTIALS_REJECTED', 'QB_TENANT_DEACTIVATED', 'QB_UNKNOWN_REGION', 'QB_REGISTRY_UNAVAILABLE'] as const) {
      assert.equal(outcomeOfFailure(new BrokerError(code, 'refused')), 'not-sent', code)
    }
  })
})

await describe('policy: the `created` scope and audit:read', async () => {
  const created = callerWith({ regions: ['eu'], actions: ['tenants:create', 'tenants:read'], tenants: 'created' })

  await it('allows creating and acting on tenants the registry says the caller created, nothing else', () => {
    assert.equal(evaluatePolicy(created, { kind: 'action', region: 'eu', action: 'tenants:create', tenants: [] }).allowed, true)
    assert.equal(evaluatePolicy(created, { kind: 'action', region: 'eu', action: 'tenants:read', tenants: ['T1'], createdByCaller: true }).allowed, true)
    assert.equal(evaluatePolicy(created, { kind: 'action', region: 'eu', action: 'tenants:read', tenants: ['T1'], createdByCaller: false }).allowed, false)
    assert.equal(evaluatePolicy(created, { kind: 'action', region: 'eu', action: 'tenants:read', tenants: ['T1'] }).allowed, false, 'unknown means not created')
    assert.equal(evaluatePolicy(created, { kind: 'action', region: 'us', action: 'tenants:read', tenants: ['T1'], createdByCaller: true }).allowed, false, 'regions still apply')
    assert.equal(evaluatePolicy(created, { kind: 'action', region: 'eu', action: 'tenants:deactivate', tenants: ['T1'], createdByCaller: true }).allowed, false, 'actions still apply')
    const api = callerWith({ regions: '*', tenantApi: ['GET /api/v1/users'], tenants: 'created' })
    assert.equal(evaluatePolicy(api, { kind: 'tenant-api', region: 'eu', method: 'GET', path: '/api/v1/users', tenants: ['T1'], createdByCaller: true }).allowed, true)
    assert.equal(evaluatePolicy(api, { kind: 'tenant-api', region: 'eu', method: 'GET', path: '/api/v1/users', tenants: ['T1'], createdByCaller: false }).allowed, false)
  })

  await it('lets mayAllowForSomeTenant pass a `created` grant (the tenant decides later) and still refuse outside it', () => {
    assert.equal(mayAllowForSomeTenant(created, { kind: 'action', region: 'eu', action: 'tenants:read' }), true)
    assert.equal(mayAllowForSomeTenant(created, { kind: 'action', region: 'eu', action: 'tenants:create' }), true)
    assert.equal(mayAllowForSomeTenant(created, { kind: 'action', region: 'eu', action: 'tenants:update' }), false)
    assert.equal(mayAllowForSomeTenant(created, { kind: 'action', region: 'jp', action: 'tenants:read' }), false)
  })

  await it('lets mayAllowForSomeTenant pass a listing grant on its actions and tenant-level paths, but never for creating a tenant', () => {
    const listing = callerWith({ regions: ['eu'], actions: ['tenants:read', 'tenants:create'], tenantApi: ['GET|POST /api/v1/users/**'], tenants: ['T1', 'Acme.EU.qlikcloud.com.'] })
    assert.equal(mayAllowForSomeTenant(listing, { kind: 'action', region: 'eu', action: 'tenants:read' }), true)
    assert.equal(mayAllowForSomeTenant(listing, { kind: 'action', region: 'eu', action: 'tenants:create' }), false, 'nobody can have listed a tenant not yet created')
    for (let round = 0; round < 2; round++) {
      assert.equal(mayAllowForSomeTenant(listing, { kind: 'tenant-api', region: 'eu', method: 'HEAD', path: '/api/v1/users/me' }), true, 'HEAD rides on GET')
      assert.equal(mayAllowForSomeTenant(listing, { kind: 'tenant-api', region: 'eu', method: 'DELETE', path: '/api/v1/users/me' }), false)
      assert.equal(mayAllowForSomeTenant(listing, { kind: 'tenant-api', region: 'eu', method: 'GET', path: '/api/v1/spaces' }), false)
      assert.equal(evaluatePolicy(listing, { kind: 'tenant-api', region: 'eu', method: 'GET', path: '/api/v1/users/me', tenants: ['acme.eu.qlikcloud.com'] }).allowed, true, 'hostnames compare without case or a trailing dot')
      assert.equal(evaluatePolicy(listing, { kind: 'tenant-api', region: 'eu', method: 'GET', path: '/api/v1/users/me', tenants: ['t1'] }).allowed, false, 'ids compare exactly')
    }
  })

  await it('parses audit:read and the created scope in grants, and refuses other words', () => {
    assert.deepEqual(GrantSchema.parse({ regions: '*', actions: ['audit:read'] }).actions, ['audit:read'])
    assert.equal(GrantSchema.parse({ regions: '*', actions: ['tenants:read'], tenants: 'created' }).tenants, 'created')
    assert.equal(GrantSchema.safeParse({ regions: '*', actions: ['tenants:read'], tenants: 'mine' }).success, false)
    assert.equal(GrantSchema.safeParse({ regions: '*', actions: ['audit:write'] }).success, false)
  })
})

await describe('registry recorder', async () => {
  await it('reads a created tenant from Qlik\'s 201, compressed or not', () => {
    const body = { id: 'T1', name: 'n', hostnames: ['N.eu.qlikcloud.com'], status: 'active', created: '2026-03-01T10:00:00.000Z', datacenter: 'eu-west-1', region: 'eu' }
    const answer = { statusCode: 201, headers: { 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(body)) }
    assert.deepEqual(tenantFromCreated(readJsonBody(answer), 'eu', 'svc', '2026-03-01T10:00:01.000Z'), {
      id: 'T1', name: 'n', hostnames: ['n.eu.qlikcloud.com'], region: 'eu', datacenter: 'eu-west-1', status: 'active', createdBy: 'svc', createdAt: '2026-03-01T10:00:00.000Z', updatedAt: '2026-03-01T10:00:01.000Z'
    })
    assert.equal(tenantFromCreated({ name: 'no id' }, 'eu', 'svc', 'now'), undefined)
  })

  await it('takes status from deactivate/reactivate 200s (inferring it from an empty `{}`) and name/alias from a 204 PATCH', () => {
    assert.deepEqual(changeFromAnswer('tenants:deactivate', 200, { id: 'T1', status: 'disabled' }, {}), { status: 'disabled' })
    assert.deepEqual(changeFromAnswer('tenants:reactivate', 200, {}, {}), { status: 'active' })
    assert.deepEqual(changeFromAnswer('tenants:update', 204, undefined, [{ op: 'replace', path: '/name', value: 'acme' }, { op: 'replace', path: '/hostnames/1', value: 'ACME.eu.qlikcloud.com' }, { op: 'replace', path: '/enableAppOpeningFeedback', value: true }]), { name: 'acme', alias: 'acme.eu.qlikcloud.com' })
    assert.equal(changeFromAnswer('tenants:update', 204, undefined, [{ op: 'replace', path: '/enableAppOpeningFeedback', value: true }]), undefined)
    assert.equal(changeFromAnswer('tenants:deactivate', 412, {}, {}), undefined)
    assert.equal(changeFromAnswer('tenants:read', 200, { status: 'deleted' }, undefined), undefined)
  })

  await it('round-trips cursors and refuses forged ones', () => {
    const position = '001767225600000:T1'
    assert.equal(decodeCursor(encodeCursor(position)), position)
    assert.throws(() => decodeCursor(Buffer.from('../../etc').toString('base64url')), /cursor/)
  })
})

await describe('caller directory and config reload', async () => {
  const keyA = createApiKey()
  const keyB = createApiKey()
  const config = (name: string, hash: string, actions: string[]): CallerConfig => ({ name, apiKeyHashes: [hash], grants: [GrantSchema.parse({ regions: '*', actions })] })

  await it('rebuilds the API-key index after a reload and gives any verifier\'s caller the grants in force', async () => {
    const directory = createCallerDirectory([config('a', keyA.hash, ['tenants:read'])])
    let builds = 0
    const apiKeys = createReloadingVerifier(directory, (callers) => { builds++; return createApiKeyVerifier(callers) })
    const verifier = withCurrentGrants(directory, apiKeys)
    assert.equal((await verifier.verify(keyA.key))?.grants[0]?.actions[0], 'tenants:read')
    assert.equal(await verifier.verify(keyB.key), undefined)
    directory.replace([config('a', keyA.hash, ['tenants:create']), config('b', keyB.hash, ['tenants:read'])])
    assert.equal((await verifier.verify(keyA.key))?.grants[0]?.actions[0], 'tenants:create')
    assert.equal((await verifier.verify(keyB.key))?.name, 'b')
    assert.equal(builds, 2, 'built once per version, not per request')

    // A verifier built once (like JWT issuers) still follows: grants by name, removed callers refused.
    const fixed: CallerVerifier = { verify: async () => ({ name: 'a', via: 'jwt', grants: [] }) }
    const following = withCurrentGrants(directory, fixed)
    assert.equal((await following.verify('jwt'))?.grants[0]?.actions[0], 'tenants:create')
    directory.replace([config('b', keyB.hash, ['tenants:read'])])
    assert.equal(await following.verify('jwt'), undefined)
  })

  await it('applies a changed file, ignores an unchanged one, and reports the same broken content once', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'qb-reload-'))
    t.after(() => { rmSync(dir, { recursive: true, force: true }) })
    const file = join(dir, 'config.yaml')
    writeFileSync(file, stringify({ callers: [{ name: 'a', apiKeyHashes: [keyA.hash], grants: [{ regions: ['eu'], actions: ['tenants:read'] }] }] }))
    const running = loadConfig({ BROKER_CONFIG_FILE: file, QLIK_REGIONS: 'eu,us' })
    const directory = createCallerDirectory(running.callers)
    const logs = captureLogs()
    // A long interval: this test drives check() itself.
    const reloader = startConfigReloader({ config: running, directory, logger: logs.logger, intervalMs: 3_600_000, debounceMs: 3_600_000 })
    t.after(() => { reloader.stop() })

    reloader.check()
    assert.equal(directory.current().version, 1, 'same content: nothing to do')
    writeFileSync(file, stringify({ callers: [{ name: 'a', apiKeyHashes: [keyA.hash], grants: [{ regions: ['eu', 'us'], actions: ['tenants:read'] }] }] }))
    reloader.check()
    assert.equal(directory.current().version, 2)
    assert.deepEqual(directory.current().byName.get('a')?.grants[0]?.regions, ['eu', 'us'])

    writeFileSync(file, stringify({ callers: [{ name: 'a', apiKeyHashes: ['sha256:nope'], grants: [] }, { name: 'a', grants: [] }] }))
    reloader.check()
    reloader.check()
    assert.equal(directory.current().version, 2, 'refused: the policy in force stays')
    const refusals = logs.lines.filter((line) => line.includes('config file refused'))
    assert.equal(refusals.length, 1, 'reported once')
    assert.match(refusals[0] ?? '', /an API key hash is/)
    assert.match(refusals[0] ?? '', /caller \\"a\\" is defined twice/)

    rmSync(file)
    reloader.check()
    assert.equal(directory.current().version, 2, 'a missing file keeps the policy in force')
    assert.equal(logs.lines.filter((line) => line.includes('cannot be read')).length, 1)
  })
})

await describe('audit trail', async () => {
  await it('reports events its log could not store once per interval, with how many, and never fails the action', async () => {
    const logs = captureLogs()
    let clock = 0
    let failing = true
    const stored: string[] = []
    const log: AuditLog = {
      kind: 'test',
      async append (event) {
        if (failing) throw new Error('store unreachable')
        stored.push(event.requestId)
      },
      async read () { return [] },
      async close () {}
    }
    const trail = createAuditTrail({ log, logger: logs.logger, failureReportIntervalMs: 60_000, now: () => clock })
    const record = async (requestId: string): Promise<void> => {
      trail.record(logs.logger, { requestId, caller: 'svc', region: 'eu', action: 'tenants:read', outcome: 'allowed' })
      await new Promise((resolve) => setImmediate(resolve))
    }
    const reports = (): Array<{ eventsNotStored: number }> => logs.lines.map((line) => JSON.parse(line) as { msg: string, eventsNotStored: number }).filter((line) => /could not be stored/.test(line.msg))
    for (const id of ['a', 'b', 'c']) await record(id)
    assert.deepEqual(reports().map((line) => line.eventsNotStored), [1], 'the first loss is reported at once, the next two wait for the interval')
    clock = 60_000
    await record('d')
    assert.deepEqual(reports().map((line) => line.eventsNotStored), [1, 3], 'then the count since the last report')
    failing = false
    await record('e')
    assert.deepEqual(stored, ['e'])
    assert.equal(logs.lines.filter((line) => line.includes('"audit":true')).length, 5, 'every action keeps its audit log line')
  })
})
