import type { RateResult, SaturationResult } from './load.js'

export type TargetId = 'direct' | 'bare' | 'nginx' | 'broker' | 'broker-no-redis' | 'broker-quiet' | 'broker-eval-budget' | 'broker-baseline'
export type RouteId = 'tenant' | 'users-me'

export const TARGET_LABELS: Record<TargetId, string> = {
  direct: '(a) direct → simulator',
  bare: '(b) bare Fastify proxy',
  nginx: '(c) nginx',
  broker: '(d) qlik-broker',
  'broker-no-redis': '(d′) qlik-broker, no Redis',
  'broker-quiet': '(d‴) qlik-broker, logs at warn',
  'broker-eval-budget': '(d″) qlik-broker, Redis EVAL per request',
  'broker-baseline': '(d⁰) qlik-broker at the --baseline commit'
}

/** Variants of the broker, measured to price one thing each: fewer runs, the first fixed rate only. */
export const VARIANTS: ReadonlySet<TargetId> = new Set(['broker-no-redis', 'broker-quiet', 'broker-eval-budget'])

export const ROUTE_LABELS: Record<RouteId, string> = {
  tenant: '`GET /api/v1/tenants/{id}` (register host)',
  'users-me': '`GET /api/v1/users/{bot user id}` (tenant host; where `/users/me` redirects)'
}

export interface Measurement {
  target: TargetId
  route: RouteId
  saturation: SaturationResult[]
  /** CPU over the saturation runs, and the 2xx answers they got. */
  cpu: { targetMs: number, simulatorMs: number, redisMs: number, requests: number }
  rates: Record<number, RateResult[]>
  /** Redis commands during the saturation runs (broker targets). */
  redisCalls: Record<string, number> | undefined
  /** Socket reads redis-server processed during the saturation runs: network round trips. */
  redisReads: number | undefined
  /** Commands the broker sent to Redis (MONITOR, script internals left out) during a short saturation window, and the requests answered then. */
  roundTrips: { calls: Record<string, number>, requests: number } | undefined
  /** Highest VmHWM read as a saturation run ended (target's processes summed), MiB: its peak RSS under active load. */
  vmHwmUnderLoadMiB: number
  /** CPU used by processes outside the bench during each kept run, % of one core. */
  foreignPct: number[]
  /** Runs thrown away and repeated because other processes used too much CPU. */
  repeated: number
}

export interface TargetSummary {
  target: TargetId
  /** VmHWM of the target's process(es) after all its runs. */
  peakRssMiB: number
  notes: string[]
}

export interface StartupResult {
  readyMs: number[]
  firstAnswerMs: number[]
  rssAtReadyMiB: number
  peakAtReadyMiB: number
  rssBeforeMiB: number
  peakBeforeMiB: number
  rssWithConnectionsMiB: number
  peakWithConnectionsMiB: number
  connectionsOpen: number
  logLinesPerRequest: number
  logBytesPerRequest: number
}
