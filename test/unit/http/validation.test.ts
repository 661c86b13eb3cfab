import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import Fastify from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { brokerValidatorCompiler } from '../../../src/http/validation.js'

async function appWith (headers: z.ZodObject) {
  const app = Fastify().withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(brokerValidatorCompiler)
  app.setErrorHandler((error, _request, reply) => reply.code(400).send({ code: (error as { code?: string }).code, message: (error as Error).message }))
  app.get('/:id', { schema: { params: z.object({ id: z.string().regex(/^\d+$/) }), headers } }, async (request) => {
    const first = request.headers
    return { sameObject: first === request.headers, id: request.params.id, accept: request.headers.accept, key: request.headers['idempotency-key'], host: request.host, protocol: request.protocol, headers: request.headers }
  })
  return app
}

await describe('the broker\'s validator compiler', async () => {
  await it('leaves valid headers as the request sent them: the same object on every read, all of them there', async () => {
    const app = await appWith(z.object({ 'idempotency-key': z.string().optional() }))
    const answer = await app.inject({ url: '/7', headers: { accept: 'application/json', 'idempotency-key': 'k-1', host: 'broker.example' } })
    assert.equal(answer.statusCode, 200)
    const body = answer.json()
    assert.equal(body.sameObject, true)
    assert.equal(body.id, '7')
    assert.equal(body.accept, 'application/json')
    assert.equal(body.key, 'k-1')
    assert.equal(body.host, 'broker.example')
    assert.equal(body.protocol, 'http')
  })

  await it('refuses invalid headers and params with zod\'s issues, as fastify-type-provider-zod does', async () => {
    const app = await appWith(z.object({ 'qlik-confirm-hostname': z.string().regex(/^[a-z.]+$/) }))
    const badHeader = await app.inject({ url: '/7', headers: { 'qlik-confirm-hostname': 'NOT OK' } })
    assert.equal(badHeader.statusCode, 400)
    assert.equal(badHeader.json().code, 'FST_ERR_VALIDATION')
    assert.match(badHeader.json().message, /^headers\//)
    const badParam = await app.inject({ url: '/x', headers: { 'qlik-confirm-hostname': 'ok' } })
    assert.match(badParam.json().message, /^params\//)
  })

  await it('hands back a header a schema changes, so the route sees the schema\'s value', async () => {
    const app = await appWith(z.object({ 'x-count': z.string().transform((value) => value.trim()) }))
    const answer = await app.inject({ url: '/7', headers: { 'x-count': ' 3 ', accept: 'text/plain' } })
    assert.equal(answer.statusCode, 200)
    assert.equal(answer.json().headers['x-count'], '3')
    assert.equal(answer.json().accept, 'text/plain')
  })
})
