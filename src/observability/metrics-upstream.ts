import { BrokerError } from '../http/broker-error.js'
import type { UpstreamClient } from '../qlik/upstream-client.js'
import type { BrokerMetrics, UpstreamOutcome } from './metrics.js'

/**
 * Counts and times every call to Qlik (token mints included: they go through
 * the same client), until the response headers or the failure.
 */
export function instrumentUpstream (client: UpstreamClient, metrics: BrokerMetrics): UpstreamClient {
  return {
    async send (request) {
      const started = performance.now()
      let outcome: UpstreamOutcome = 'unreachable'
      try {
        const response = await client.send(request)
        outcome = response.statusCode
        return response
      } catch (error) {
        if (error instanceof BrokerError && error.code === 'QB_UPSTREAM_TIMEOUT') outcome = 'timeout'
        throw error
      } finally {
        metrics.observeUpstream(request.target.host, request.method, request.path, outcome, (performance.now() - started) / 1000)
      }
    },
    close: async () => { await client.close() }
  }
}
