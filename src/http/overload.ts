import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, type Registry } from 'prom-client'
import { METRIC_PREFIX } from '../observability/metrics.js'
import { BrokerError } from './broker-error.js'
import { sendProblem } from './error-handler.js'

export interface OverloadLimits {
  /** Requests worked on at once. */
  maxInFlightRequests: number
  /** Bytes of request bodies held at once (by Content-Length). */
  maxInFlightBodyBytes: number
  /** Largest body accepted: what a body of unknown length (chunked) is counted as. */
  bodyLimitBytes: number
  /** Caller connections open at once; 0: no limit. */
  maxConnections: number
}

/**
 * Routes that are never refused: the kubelet's probes (a liveness probe
 * failing under load would restart a replica that is only busy, and its
 * load would land on the others) and Prometheus' scrape, which is how the
 * overload is seen. They hold no request body and answer from memory.
 */
export const NEVER_REFUSED_ROUTES: ReadonlySet<string> = new Set(['/livez', '/readyz', '/metrics'])

export type OverloadReason = 'requests' | 'body_bytes'

/** What the guard holds now, for tests and the bench. */
export interface OverloadState {
  inFlightRequests: number
  inFlightBodyBytes: number
}

/** Bytes a request's body will hold: its Content-Length, or the body limit when it is sent chunked. */
export function declaredBodyBytes (headers: FastifyRequest['headers'], bodyLimitBytes: number): number {
  const length = headers['content-length']
  if (length !== undefined) {
    const bytes = Number(length)
    // A malformed length is refused by the HTTP parser or the body limit later; count it as the worst case meanwhile.
    return Number.isSafeInteger(bytes) && bytes >= 0 ? Math.min(bytes, bodyLimitBytes) : bodyLimitBytes
  }
  return headers['transfer-encoding'] === undefined ? 0 : bodyLimitBytes
}

/**
 * Bounds the memory that callers can make the broker hold: requests in
 * flight (each holds its parsed request, Qlik's answer and its log lines
 * until it ends), the bytes of their bodies, and open connections. A request
 * past a limit is answered at once with 503 QB_OVERLOADED and Retry-After
 * instead of queueing; its connection is closed, so a burst of connections
 * does not stay open either. Registered before authentication: a refusal
 * costs no key hashing and no Redis round trip.
 */
async function overloadGuardPlugin (app: FastifyInstance, options: { limits: OverloadLimits, registry: Registry, onState?: (state: () => OverloadState) => void }): Promise<void> {
  const { limits } = options
  let inFlightRequests = 0
  let inFlightBodyBytes = 0
  // Made once: a refusal must cost less than the request it refuses (no stack captured per refusal, no error-level log line with it).
  const refusals: Record<OverloadReason, BrokerError> = {
    requests: new BrokerError('QB_OVERLOADED', `this broker replica is working on ${limits.maxInFlightRequests} requests, its limit; send the request again after Retry-After (another replica may take it)`, { headers: { 'retry-after': '1', connection: 'close' } }),
    body_bytes: new BrokerError('QB_OVERLOADED', `this broker replica holds ${limits.maxInFlightBodyBytes} bytes of request bodies, its limit; send the request again after Retry-After (another replica may take it)`, { headers: { 'retry-after': '1', connection: 'close' } })
  }
  let lastWarnedAt = -Infinity
  let refusedSinceWarning = 0
  const rejected = new Counter({
    name: `${METRIC_PREFIX}overload_rejected_total`,
    help: 'Requests answered 503 QB_OVERLOADED at once because this replica was at a limit: requests in flight (BROKER_MAX_IN_FLIGHT_REQUESTS) or request body bytes in flight (BROKER_MAX_IN_FLIGHT_BODY_BYTES).',
    labelNames: ['reason'],
    registers: [options.registry]
  })
  for (const reason of ['requests', 'body_bytes'] satisfies OverloadReason[]) rejected.inc({ reason }, 0)
  const dropped = new Counter({
    name: `${METRIC_PREFIX}connections_dropped_total`,
    help: 'Caller connections closed as soon as accepted because BROKER_MAX_CONNECTIONS were open.',
    registers: [options.registry]
  })
  // Read at scrape time: a gauge updated on every request would cost more than the request's own bookkeeping.
  const state = (): OverloadState => ({ inFlightRequests, inFlightBodyBytes })
  new Gauge({
    name: `${METRIC_PREFIX}in_flight_requests`,
    help: 'Requests this replica is working on now (health probes and /metrics included).',
    registers: [options.registry],
    collect () { this.set(inFlightRequests) }
  }).set(0)
  new Gauge({
    name: `${METRIC_PREFIX}in_flight_body_bytes`,
    help: 'Request body bytes (by Content-Length) of the requests in flight.',
    registers: [options.registry],
    collect () { this.set(inFlightBodyBytes) }
  }).set(0)
  const limitGauge = new Gauge({
    name: `${METRIC_PREFIX}overload_limit`,
    help: 'The limits in force: requests in flight, body bytes in flight, connections (0: none).',
    labelNames: ['limit'],
    registers: [options.registry]
  })
  limitGauge.set({ limit: 'requests' }, limits.maxInFlightRequests)
  limitGauge.set({ limit: 'body_bytes' }, limits.maxInFlightBodyBytes)
  limitGauge.set({ limit: 'connections' }, limits.maxConnections)
  options.onState?.(state)

  if (limits.maxConnections > 0) {
    // Set once the server exists (it does once `listen` is called); Node closes the connections past it and says so with 'drop'.
    app.addHook('onListen', async () => {
      app.server.maxConnections = limits.maxConnections
    })
    app.server.on('drop', () => { dropped.inc() })
  }

  /** 'close' comes once per response, whether it was sent in full or the caller went away first. */
  function bodilessEnded (): void {
    inFlightRequests--
  }

  // A callback hook with one shared listener for requests without a body (most of them): no promise and no closure per request.
  app.addHook('onRequest', (request, reply, done) => {
    const bodyBytes = declaredBodyBytes(request.headers, limits.bodyLimitBytes)
    let reason: OverloadReason | undefined
    if (inFlightRequests >= limits.maxInFlightRequests) reason = 'requests'
    else if (bodyBytes > 0 && inFlightBodyBytes + bodyBytes > limits.maxInFlightBodyBytes) reason = 'body_bytes'
    // The route is looked at only past a limit: request.routeOptions builds a new object on every read (./route-facts.ts).
    if (reason !== undefined && !NEVER_REFUSED_ROUTES.has(request.routeOptions.url ?? '')) {
      rejected.inc({ reason })
      refusedSinceWarning++
      const now = performance.now()
      // One warning per 10 s of overload, not one per refusal: the request log already has a line for each.
      if (now - lastWarnedAt >= 10_000) {
        request.log.warn({ reason, refused: refusedSinceWarning, inFlightRequests, inFlightBodyBytes }, 'overloaded: refusing requests with 503 QB_OVERLOADED')
        lastWarnedAt = now
        refusedSinceWarning = 0
      }
      // `Connection: close` (in the error's headers): its body is not read, so the connection cannot be reused, and closing it sheds the connection's memory too.
      sendProblem(reply, request, refusals[reason])
      return
    }
    inFlightRequests++
    if (bodyBytes === 0) {
      reply.raw.on('close', bodilessEnded)
    } else {
      inFlightBodyBytes += bodyBytes
      reply.raw.on('close', () => {
        inFlightRequests--
        inFlightBodyBytes -= bodyBytes
      })
    }
    done()
  })
}

export const overloadGuard = fp(overloadGuardPlugin, { name: 'qlik-broker-overload-guard', fastify: '5.x' })
