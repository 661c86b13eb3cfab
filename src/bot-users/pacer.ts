/**
 * The job's own share of Qlik's Tier 2 budget per tenant host: at most
 * `fraction` of the limit (docs/reference/qlik-cloud-api.md §5), so that
 * normal traffic through the broker keeps the rest. The gateway's shared
 * budget still applies on top; this only spaces the job's own moves.
 */
export interface Pacer {
  /** Waits for the job's next slot on this host. */
  wait (host: string): Promise<void>
  /** Milliseconds between two moves on one host. */
  readonly intervalMs: number
}

export function createPacer (options: { requests: number, windowMs: number, fraction: number, now?: () => number, sleep?: (ms: number) => Promise<void> }): Pacer {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? (async (ms: number) => { await new Promise((resolve) => setTimeout(resolve, ms)) })
  const intervalMs = options.windowMs / Math.max(1, Math.floor(options.requests * options.fraction))
  const next = new Map<string, number>()
  return {
    intervalMs,
    async wait (host) {
      const t = now()
      const slot = Math.max(t, next.get(host) ?? 0)
      next.set(host, slot + intervalMs)
      if (slot > t) await sleep(slot - t)
    }
  }
}
