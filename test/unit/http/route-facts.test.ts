import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import Fastify from 'fastify'
import { authentication } from '../../../src/http/authentication.js'
import { routeFacts, routeFactsOf } from '../../../src/http/route-facts.js'

async function appWith (seen: string[]) {
  const app = Fastify()
  await app.register(routeFacts)
  await app.register(authentication, { verifier: { verify: async (credential) => (credential === 'good' ? { name: 'svc', via: 'api-key', grants: [] } : undefined) } })
  app.setErrorHandler((error, _request, reply) => reply.code((error as { statusCode?: number }).statusCode ?? 401).send({ code: (error as { code?: string }).code }))
  app.get('/private/:id', {
    config: { authenticate: true },
    logLevel: 'warn',
    onRequest: (request, _reply, done) => { seen.push(`own hook, caller ${request.caller?.name ?? 'none'}`); done() }
  }, async (request) => {
    const facts = routeFactsOf(request)
    return { url: facts.url, logLevel: facts.logLevel, authenticate: facts.authenticate, caller: request.caller?.name }
  })
  app.get('/public', async (request) => ({ ...routeFactsOf(request), caller: request.caller }))
  return app
}

await describe('route facts and route-level hooks', async () => {
  await it('gives each request its route\'s pattern, log level and authentication, and authenticates before the route\'s own hooks', async () => {
    const seen: string[] = []
    const app = await appWith(seen)
    const answer = await app.inject({ url: '/private/7', headers: { authorization: 'Bearer good' } })
    assert.equal(answer.statusCode, 200)
    assert.deepEqual(answer.json(), { url: '/private/:id', logLevel: 'warn', authenticate: true, caller: 'svc' })
    assert.deepEqual(seen, ['own hook, caller svc'])
    await app.close()
  })

  await it('refuses a request without a valid credential on an authenticated route before its own hooks run', async () => {
    const seen: string[] = []
    const app = await appWith(seen)
    assert.equal((await app.inject({ url: '/private/7' })).statusCode, 401)
    assert.equal((await app.inject({ url: '/private/7', headers: { authorization: 'Bearer bad' } })).statusCode, 401)
    assert.deepEqual(seen, [])
    await app.close()
  })

  await it('does not authenticate a public route, whatever credential comes with it', async () => {
    const app = await appWith([])
    const answer = await app.inject({ url: '/public', headers: { authorization: 'Bearer bad' } })
    assert.equal(answer.statusCode, 200)
    assert.deepEqual(answer.json(), { url: '/public', logLevel: '', authenticate: false, caller: null })
    await app.close()
  })
})
