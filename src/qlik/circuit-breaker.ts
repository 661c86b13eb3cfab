import { BrokerError } from '../http/broker-error.js'

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface CircuitBreaker {
  /** Throws a 503 problem while the host's breaker is open; lets one probe through when half-open. */
  admit (host: string): void
  succeeded (host: string): void
  /**
   * A sign that the host itself is unwell (see `isHostUnwellStatus`, or a
   * connection error or timeout). `requestId`: the failures of one request
   * (its retries) count once, so one request cannot open the breaker alone.
   */
  failed (host: string, requestId?: string): void
  state (host: string): BreakerState
  /** Hosts whose breaker is not closed. */
  openHosts (): Array<{ host: string, state: BreakerState, retryAt: number }>
}

/**
 * Answers that say the host (or the gateway in front of it) is unwell: 502,
 * 503, 504. Any other status, 500 included, is the host answering a request
 * it did not like; one caller can provoke those at will (a bad body, a path
 * that crashes one endpoint), so they never open the breaker for everybody.
 */
export function isHostUnwellStatus (status: number): boolean {
  return status === 502 || status === 503 || status === 504
}

interface Entry {
  failures: number
  /** The request whose failure was counted last: its retries do not count again. */
  lastRequestId: string | undefined
  state: BreakerState
  openedAt: number
  probing: boolean
}

/**
 * Per Qlik host, in each replica: after `failureThreshold` failures in a row
 * from different requests (502/503/504, timeouts, connection errors), fail fast for `cooldownMs`, then let a
 * single probe through; its success closes the breaker, its failure opens it
 * again. Keeps a failing Qlik from tying up callers and connections.
 */
export function createCircuitBreaker (options: { failureThreshold: number, cooldownMs: number, now?: () => number }): CircuitBreaker {
  const now = options.now ?? Date.now
  const entries = new Map<string, Entry>()

  function current (host: string): Entry | undefined {
    const entry = entries.get(host)
    if (entry?.state === 'open' && now() - entry.openedAt >= options.cooldownMs) {
      entry.state = 'half-open'
      entry.probing = false
    }
    return entry
  }

  return {
    admit (host) {
      const entry = current(host)
      if (entry === undefined || entry.state === 'closed') return
      if (entry.state === 'half-open' && !entry.probing) {
        entry.probing = true
        return
      }
      const retryAfter = Math.max(1, Math.ceil((entry.openedAt + options.cooldownMs - now()) / 1000))
      throw new BrokerError('QB_UPSTREAM_UNAVAILABLE', `Qlik (${host}) failed ${options.failureThreshold} times in a row; the broker stops sending there for a while`, { headers: { 'retry-after': String(retryAfter) } })
    },
    succeeded (host) {
      entries.delete(host)
    },
    failed (host, requestId) {
      const entry = current(host) ?? { failures: 0, lastRequestId: undefined, state: 'closed' as BreakerState, openedAt: 0, probing: false }
      const retryOfCounted = requestId !== undefined && requestId === entry.lastRequestId && entry.state === 'closed'
      entry.lastRequestId = requestId
      if (!retryOfCounted) entry.failures++
      if (entry.state === 'half-open' || entry.failures >= options.failureThreshold) {
        entry.state = 'open'
        entry.openedAt = now()
        entry.probing = false
      }
      entries.set(host, entry)
      if (entries.size > 10_000) {
        for (const [key, value] of entries) if (value.state === 'closed') entries.delete(key)
      }
    },
    state (host) {
      return current(host)?.state ?? 'closed'
    },
    openHosts () {
      return [...entries.keys()].flatMap((host) => {
        const entry = current(host)
        return entry === undefined || entry.state === 'closed' ? [] : [{ host, state: entry.state, retryAt: entry.openedAt + options.cooldownMs }]
      })
    }
  }
}
