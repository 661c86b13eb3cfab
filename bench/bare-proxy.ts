import replyFrom from '@fastify/reply-from'
import Fastify from 'fastify'

/**
 * Target (b) of `npm run bench`: the least a Node proxy can do for the
 * broker's two benchmarked routes. The broker's paths are mapped to Qlik's,
 * the Host header and a fixed bearer token are set, and undici keeps
 * connections to the simulator alive. No logger, no auth, no policy, no
 * metrics: the Node limit for one hop. Runs as its own process, configured by
 * BARE_PROXY_CONFIG (JSON); it prints `{"port":…}` once listening.
 */
interface Config {
  port: number
  upstream: string
  registerHost: string
  registerToken: string
  tenantId: string
  tenantHost: string
  tenantToken: string
}

const config = JSON.parse(process.env.BARE_PROXY_CONFIG ?? '{}') as Config
const app = Fastify({ logger: false, keepAliveTimeout: 72_000 })

await app.register(replyFrom, {
  base: config.upstream,
  disableRequestLogging: true,
  undici: { connections: 256, pipelining: 1, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 }
})

app.get<{ Params: { tenantId: string } }>('/regions/eu/api/v1/tenants/:tenantId', (request, reply) => {
  return reply.from(`/api/v1/tenants/${request.params.tenantId}`, {
    rewriteRequestHeaders: (_request, headers) => ({ ...headers, host: config.registerHost, authorization: `Bearer ${config.registerToken}` })
  })
})

app.get<{ Params: { tenant: string, '*': string } }>('/regions/eu/tenants/:tenant/api/v1/*', (request, reply) => {
  return reply.from(`/api/v1/${request.params['*']}`, {
    rewriteRequestHeaders: (_request, headers) => ({ ...headers, host: config.tenantHost, authorization: `Bearer ${config.tenantToken}` })
  })
})

await app.listen({ host: '127.0.0.1', port: config.port })
const address = app.server.address()
process.stdout.write(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 }) + '\n')

const stop = (): void => { app.close().then(() => process.exit(0), () => process.exit(1)) }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
