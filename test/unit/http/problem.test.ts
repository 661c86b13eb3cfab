import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BrokerError, ERROR_CATALOGUE, isBrokerError, type BrokerErrorCode } from '../../../src/http/broker-error.js'
import { PROBLEM_CONTENT_TYPE, problemType, toProblem } from '../../../src/http/problem.js'

await describe('BrokerError', async () => {
  await it('takes status and title from the catalogue when created with a code', () => {
    const error = new BrokerError('QB_FORBIDDEN', 'no grant allows it')
    assert.equal(error.name, 'BrokerError')
    assert.equal(error.code, 'QB_FORBIDDEN')
    assert.equal(error.statusCode, 403)
    assert.equal(error.title, 'Not allowed by policy')
    assert.equal(error.message, 'no grant allows it')
    assert.deepEqual(error.issues, [])
    assert.deepEqual(error.headers, {})
    assert.ok(error instanceof Error)
  })

  await it('keeps issues, headers and cause when they are given', () => {
    const cause = new Error('socket hang up')
    const error = new BrokerError('QB_UPSTREAM_RATE_LIMITED', 'slow down', { issues: [{ pointer: '/body', message: 'm' }], headers: { 'retry-after': '7' }, cause })
    assert.deepEqual(error.issues, [{ pointer: '/body', message: 'm' }])
    assert.deepEqual(error.headers, { 'retry-after': '7' })
    assert.equal(error.cause, cause)
  })

  await it('is recognised by isBrokerError only when it is a BrokerError', () => {
    assert.equal(isBrokerError(new BrokerError('QB_INTERNAL', 'x')), true)
    assert.equal(isBrokerError(Object.assign(new Error('x'), { code: 'QB_INTERNAL', statusCode: 500 })), false)
    assert.equal(isBrokerError(undefined), false)
  })

  await it('maps every code to a client or server error status and a title when the catalogue is read', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      assert.match(code, /^QB_[A-Z_]+$/)
      assert.ok(entry.status >= 400 && entry.status <= 599, code)
      assert.ok(entry.title.length > 0, code)
    }
  })
})

await describe('problemType', async () => {
  await it('gives a urn:qlik-broker:problem URN in kebab case when given a QB_ code', () => {
    assert.equal(problemType('QB_INVALID_TENANT'), 'urn:qlik-broker:problem:invalid-tenant')
    assert.equal(problemType('QB_UPSTREAM_RATE_LIMITED'), 'urn:qlik-broker:problem:upstream-rate-limited')
    assert.equal(problemType('QB_INTERNAL'), 'urn:qlik-broker:problem:internal')
  })

  await it('gives a distinct type for every catalogued code', () => {
    const types = Object.keys(ERROR_CATALOGUE).map(problemType)
    assert.equal(new Set(types).size, types.length)
    assert.ok(types.every((type) => /^urn:qlik-broker:problem:[a-z]+(-[a-z]+)*$/.test(type)))
  })
})

await describe('toProblem', async () => {
  await it('builds an RFC 9457 body with a Qlik errors[] entry when the error has no issues', () => {
    const body = toProblem(new BrokerError('QB_UNKNOWN_REGION', 'region "xx" is not configured'), 'req-42')
    assert.deepEqual(body, {
      type: 'urn:qlik-broker:problem:unknown-region',
      title: 'Unknown region',
      status: 404,
      detail: 'region "xx" is not configured',
      code: 'QB_UNKNOWN_REGION',
      requestId: 'req-42',
      errors: [{ code: 'QB_UNKNOWN_REGION', title: 'Unknown region', detail: 'region "xx" is not configured', status: '404' }],
      traceId: 'req-42'
    })
    assert.equal(PROBLEM_CONTENT_TYPE, 'application/problem+json; charset=utf-8')
  })

  await it('gives one errors[] entry per issue with its source pointer when the error has issues', () => {
    const error = new BrokerError('QB_INVALID_REQUEST', 'the body is not valid', {
      issues: [
        { pointer: '/body/0/path', message: 'expected a JSON pointer' },
        { pointer: '/headers/qlik-confirm-hostname', message: 'required' }
      ]
    })
    const body = toProblem(error, 'req-7')
    assert.equal(body.status, 400)
    assert.equal(body.detail, 'the body is not valid')
    assert.deepEqual(body.errors, [
      { code: 'QB_INVALID_REQUEST', title: 'The request is not valid', detail: 'expected a JSON pointer', status: '400', source: { pointer: '/body/0/path' } },
      { code: 'QB_INVALID_REQUEST', title: 'The request is not valid', detail: 'required', status: '400', source: { pointer: '/headers/qlik-confirm-hostname' } }
    ])
  })

  await it('writes status as a number at the top and as a string in every errors[] entry for every code', () => {
    for (const code of Object.keys(ERROR_CATALOGUE) as BrokerErrorCode[]) {
      const body = toProblem(new BrokerError(code, 'detail', { issues: [{ pointer: '/x', message: 'y' }] }), 'r')
      assert.equal(typeof body.status, 'number')
      assert.equal(body.status, ERROR_CATALOGUE[code].status)
      assert.ok(body.errors.every((entry) => entry.status === String(body.status) && entry.code === code), code)
    }
  })

  await it('leaves out the cause and headers when the error carries them', () => {
    const body = toProblem(new BrokerError('QB_UPSTREAM_UNREACHABLE', 'Qlik could not be reached', { cause: new Error('ECONNREFUSED 10.1.2.3:443'), headers: { 'retry-after': '5' } }), 'r')
    assert.equal(JSON.stringify(body).includes('10.1.2.3'), false)
    assert.equal(JSON.stringify(body).includes('retry-after'), false)
  })
})
