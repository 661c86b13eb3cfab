import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler, onRequestHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyRequest {
    /** What the matched route declared, set by its first hook; null until then and for requests no route matched. */
    routeFacts: RouteFacts | null
  }
}

/** What per-request code needs to know of its route, fixed when the route is added. */
export interface RouteFacts {
  /** The route pattern (`/regions/:region/...`), never the URL. */
  readonly url: string | undefined
  readonly logLevel: string | undefined
  readonly authenticate: boolean
}

/**
 * Fastify's `request.routeOptions` builds a new object of thirteen fields on
 * every read, and the broker read it five times per request (authentication,
 * quota, metrics, the request log twice). The facts are the same for every
 * request of a route: taken once when the route is added and handed to each
 * request by a route-level hook.
 */
export function routeFactsOf (request: FastifyRequest): RouteFacts {
  if (request.routeFacts !== null) return request.routeFacts
  // No route matched (404), or the request failed before the route's first hook: the slow way.
  const options = request.routeOptions
  return { url: options.url, logLevel: options.logLevel, authenticate: options.config.authenticate === true }
}

const brokerHooksOf = new WeakMap<RouteOptions, number>()

/**
 * Adds a route-level onRequest hook after the ones added before through this
 * function and ahead of the route's own: the broker's hooks keep the order of
 * their plugins' registration, as instance-level hooks did.
 */
export function addRouteHook (route: RouteOptions, given: onRequestHookHandler | onRequestAsyncHookHandler): void {
  // Fastify runs an async route-level hook as it runs an instance-level one; its route types name the callback form only.
  const hook = given as onRequestHookHandler
  const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
  const added = brokerHooksOf.get(route) ?? 0
  route.onRequest = [...own.slice(0, added), hook, ...own.slice(added)]
  brokerHooksOf.set(route, added + 1)
}

async function routeFactsPlugin (app: FastifyInstance): Promise<void> {
  app.decorateRequest('routeFacts', null)
  app.addHook('onRoute', (route) => {
    const facts: RouteFacts = Object.freeze({ url: route.url, logLevel: route.logLevel, authenticate: route.config?.authenticate === true })
    addRouteHook(route, (request, _reply, done) => {
      request.routeFacts = facts
      done()
    })
  })
}

/** Registered before every route and before the plugins that add route-level hooks. */
export const routeFacts = fp(routeFactsPlugin, { name: 'qlik-broker-route-facts', fastify: '5.x' })
