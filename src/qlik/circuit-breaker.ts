import { BrokerError } from '../http/broker-error.js'

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface CircuitBreaker {
  /** Throws a 503 problem while the host's breaker is open; lets one probe through when half-open. */
  admit (host: string): void
  succeeded (host: string): void
  failed (host: string): void
  state (host: string): BreakerState
  /** Hosts whose breaker is not closed. */
  openHosts (): Array<{ host: string, state: BreakerState, retryAt: number }>
}

interface Entry {
  failures: number
  state: BreakerState
  openedAt: number
  probing: boolean
}

/**
 * Per Qlik host, in each replica: after `failureThreshold` failures in a row
 * (5xx, timeouts, connection errors), fail fast for `cooldownMs`, then let a
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
    failed (host) {
      const entry = current(host) ?? { failures: 0, state: 'closed' as BreakerState, openedAt: 0, probing: false }
      entry.failures++
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
