import { z } from 'zod'
import type { Faults } from './types.js'

export const faultsSchema = z.strictObject({
  latencyMs: z.number().min(0).max(60_000).optional(),
  errorRate: z.number().min(0).max(1).optional(),
  errorStatus: z.int().min(500).max(599).optional(),
  rateLimitRate: z.number().min(0).max(1).optional(),
  retryAfterSeconds: z.int().min(1).max(3600).optional(),
  hosts: z.array(z.string().min(1)).optional(),
  paths: z.array(z.string().min(1)).optional(),
  phase: z.enum(['before', 'after']).optional(),
  times: z.int().min(1).optional()
})

export interface FaultDecision {
  latencyMs: number
  /** What to answer instead of (phase before) or after (phase after) acting. */
  outcome: 'error' | 'rate-limit' | undefined
  phase: 'before' | 'after'
  errorStatus: number
  retryAfterSeconds: number
}

export interface FaultInjector {
  /** Validates and installs faults; throws a ZodError on bad input. */
  set (faults: Faults): Faults
  clear (): void
  get (): Faults | undefined
  /** What to do with a request to `host` + `path`, or undefined for "nothing". */
  decide (host: string, path: string): FaultDecision | undefined
}

interface Active {
  faults: Faults
  latencyMs: number
  errorRate: number
  rateLimitRate: number
  errorStatus: number
  retryAfterSeconds: number
  phase: 'before' | 'after'
  hosts: Set<string> | undefined
  paths: string[] | undefined
  remaining: number
}

export function createFaultInjector (random: () => number = Math.random): FaultInjector {
  let active: Active | undefined

  return {
    set (faults) {
      const parsed = faultsSchema.parse(faults)
      // Keep only the keys that were given, so GET /__sim/faults echoes the input.
      const clean = JSON.parse(JSON.stringify(parsed)) as Faults
      active = {
        faults: clean,
        latencyMs: parsed.latencyMs ?? 0,
        errorRate: parsed.errorRate ?? 0,
        rateLimitRate: parsed.rateLimitRate ?? 0,
        errorStatus: parsed.errorStatus ?? 503,
        retryAfterSeconds: parsed.retryAfterSeconds ?? 1,
        phase: parsed.phase ?? 'before',
        hosts: parsed.hosts === undefined ? undefined : new Set(parsed.hosts.map((h) => h.toLowerCase())),
        paths: parsed.paths,
        remaining: parsed.times ?? Infinity
      }
      return clean
    },
    clear () { active = undefined },
    get () { return active?.faults },
    decide (host, path) {
      const a = active
      if (a === undefined) return undefined
      if (a.hosts !== undefined && !a.hosts.has(host)) return undefined
      if (a.paths !== undefined && !a.paths.some((prefix) => path.startsWith(prefix))) return undefined
      let outcome: FaultDecision['outcome']
      if (a.errorRate > 0 && random() < a.errorRate) outcome = 'error'
      else if (a.rateLimitRate > 0 && random() < a.rateLimitRate) outcome = 'rate-limit'
      if (outcome === undefined && a.latencyMs === 0) return undefined
      // `times` counts affected requests; the last one clears the faults.
      if (--a.remaining <= 0) active = undefined
      return { latencyMs: a.latencyMs, outcome, phase: a.phase, errorStatus: a.errorStatus, retryAfterSeconds: a.retryAfterSeconds }
    }
  }
}
