import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import { assertProblem } from '../governance/support.js'
import { bearer, http } from '../support/http.js'
import { startStack, type Stack } from '../support/stack.js'

/** Writes raw bytes to the broker and reads everything it answers until it closes the connection. */
async function raw (stack: Stack, bytes: string): Promise<string> {
  const { hostname, port } = new URL(stack.url)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => { socket.write(bytes) })
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { answer += chunk })
    socket.on('close', () => { resolve(answer) })
    socket.on('error', reject)
  })
}

function parseRaw (answer: string): { status: number, contentType: string, body: { code: string, status: number, errors: Array<{ code: string }> } } {
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  const status = Number(head.split(' ')[1])
  const contentType = /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? ''
  return { status, contentType, body: JSON.parse(body) as { code: string, status: number, errors: Array<{ code: string }> } }
}

await describe('issue 10 §12: refusals made before any route runs are problem+json with a stable code', async () => {
  await it('answers an undecodable path and an over-long tenant segment as problems', async (t) => {
    const stack = await startStack(t)
    const key = bearer(stack.keys.admin)
    const badUrl = await http(stack.url, 'GET', '/regions/eu/tenants/%c0%ae/api/v1/users', { headers: key })
    assertProblem(badUrl, 400, 'QB_INVALID_URL')
    assert.match(String(badUrl.headers['x-request-id']), /^[0-9a-f-]{36}$/)
    assertProblem(await http(stack.url, 'GET', `/regions/eu/tenants/${'a'.repeat(400)}/api/v1/users`, { headers: key }), 414, 'QB_URI_TOO_LONG')
    assertProblem(await http(stack.url, 'GET', `/regions/eu/api/v1/tenants/${'b'.repeat(400)}`, { headers: key }), 414, 'QB_URI_TOO_LONG')
    assert.ok(!stack.logs.text().includes('FST_ERR_BAD_URL\',') && !stack.logs.text().includes('"level":"error"'), 'a refusal is not an error in the logs')
  })

  await it('answers malformed HTTP and oversized headers as problems on the socket', async (t) => {
    const stack = await startStack(t)
    const garbage = parseRaw(await raw(stack, 'NOT HTTP AT ALL\r\n\r\n'))
    assert.equal(garbage.status, 400)
    assert.match(garbage.contentType, /^application\/problem\+json/)
    assert.equal(garbage.body.code, 'QB_INVALID_REQUEST')
    assert.equal(garbage.body.errors[0]?.code, 'QB_INVALID_REQUEST')
    const huge = parseRaw(await raw(stack, `GET /regions HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(40_000)}\r\n\r\n`))
    assert.equal(huge.status, 431)
    assert.match(huge.contentType, /^application\/problem\+json/)
    assert.equal(huge.body.code, 'QB_HEADERS_TOO_LARGE')
  })
})
