import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Caller, CallerVerifier } from '../auth/caller.js'
import { BrokerError } from './broker-error.js'
import { addRouteHook } from './route-facts.js'

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null
  }
  interface FastifyContextConfig {
    /** Routes that act for a caller set this; everything else (probes, docs) is public. */
    authenticate?: boolean
  }
}

const BEARER = /^Bearer\s+(\S+)$/i

/** The caller of an authenticated route; the hook guarantees one is set. */
export function callerOf (request: FastifyRequest): Caller {
  if (request.caller === null) throw new BrokerError('QB_UNAUTHENTICATED', 'no authenticated caller')
  return request.caller
}

async function authenticationPlugin (app: FastifyInstance, options: { verifier: CallerVerifier }): Promise<void> {
  const { verifier } = options
  app.decorateRequest('caller', null)
  const refused = (): BrokerError => new BrokerError('QB_UNAUTHENTICATED', 'the bearer credential is not a valid broker credential', { headers: { 'www-authenticate': 'Bearer realm="qlik-broker", error="invalid_token"' } })
  // A callback hook: a credential the verifier knows without waiting (an API key) is settled in this turn, with no promise.
  const authenticate = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    const header = request.headers.authorization
    const credential = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined
    if (credential === undefined) {
      done(new BrokerError('QB_UNAUTHENTICATED', 'send a broker credential as "Authorization: Bearer <key>"', { headers: { 'www-authenticate': 'Bearer realm="qlik-broker"' } }))
      return
    }
    const known = verifier.known?.(credential)
    if (known !== undefined) {
      request.caller = known
      done()
      return
    }
    verifier.verify(credential).then((caller) => {
      if (caller === undefined) {
        done(refused())
        return
      }
      request.caller = caller
      done()
    }, done)
  }
  // A hook of the routes that act for a caller only: the public ones (probes, docs) do not run it at all.
  app.addHook('onRoute', (route) => {
    if (route.config?.authenticate === true) addRouteHook(route, authenticate)
  })
}

export const authentication = fp(authenticationPlugin, { name: 'qlik-broker-authentication', fastify: '5.x', dependencies: ['qlik-broker-route-facts'] })
