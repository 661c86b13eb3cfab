import { totalmem } from 'node:os'
import { getHeapStatistics } from 'node:v8'
import { Counter, Gauge, type Registry } from 'prom-client'
import { METRIC_PREFIX } from './metrics.js'

const MiB = 1024 * 1024

/**
 * Above this share of the container's memory limit the V8 heap alone could
 * take the pod to its limit: the rest of the process (code, stacks, sockets,
 * Buffers outside the heap) needs 60–100 MiB of its own under load
 * (docs/benchmarks.md, "Memory under 1,000 active connections").
 */
export const HEAP_SHARE_WARNING = 0.6

export interface MemoryFacts {
  /** The cgroup's memory limit (a container's `resources.limits.memory`); undefined when none is set. */
  containerLimitMiB: number | undefined
  /** V8's heap limit (old space plus young generation), as NODE_OPTIONS or Node's default made it. */
  heapLimitMiB: number
  /** heapLimitMiB / containerLimitMiB, when there is a limit. */
  heapShareOfLimit: number | undefined
  /** Set when the heap may outgrow the container: why, and what to do. */
  warning: string | undefined
}

/**
 * How this process' memory is bounded, from what Node reports:
 * `process.constrainedMemory()` is libuv's reading of the cgroup limit (0,
 * or a huge number, when there is none); `heap_size_limit` is V8's heap
 * ceiling, which Node sizes from that limit unless NODE_OPTIONS says
 * otherwise (`--max-old-space-size-percentage` takes a share of the same
 * limit; see docs/deploy-helm.md, "Memory").
 */
export function memoryFacts (input: { constrainedBytes: number, totalBytes: number, heapLimitBytes: number }): MemoryFacts {
  const limited = input.constrainedBytes > 0 && input.constrainedBytes < input.totalBytes
  const containerLimitMiB = limited ? Math.round(input.constrainedBytes / MiB) : undefined
  const heapLimitMiB = Math.round(input.heapLimitBytes / MiB)
  const heapShareOfLimit = containerLimitMiB === undefined ? undefined : Math.round(heapLimitMiB / containerLimitMiB * 100) / 100
  const warning = heapShareOfLimit !== undefined && heapShareOfLimit > HEAP_SHARE_WARNING
    ? `the V8 heap may grow to ${heapLimitMiB} MiB of the container's ${containerLimitMiB} MiB, leaving too little for the rest of the process: size it with NODE_OPTIONS=--max-old-space-size-percentage (the Helm chart does)`
    : undefined
  return { containerLimitMiB, heapLimitMiB, heapShareOfLimit, warning }
}

export function describeMemory (): MemoryFacts {
  return memoryFacts({ constrainedBytes: process.constrainedMemory(), totalBytes: totalmem(), heapLimitBytes: getHeapStatistics().heap_size_limit })
}

/** The limits as gauges, and the log lines dropped at LOG_BUFFER_MAX_BYTES as a counter. */
export function watchMemory (registry: Registry, facts: MemoryFacts, log: { droppedLines (): number } | undefined): void {
  const limits = new Gauge({
    name: `${METRIC_PREFIX}memory_limit_bytes`,
    help: 'What bounds this process\' memory: the container\'s limit (absent without one) and the V8 heap limit.',
    labelNames: ['kind'],
    registers: [registry]
  })
  if (facts.containerLimitMiB !== undefined) limits.set({ kind: 'container' }, facts.containerLimitMiB * MiB)
  limits.set({ kind: 'heap' }, facts.heapLimitMiB * MiB)
  let counted = 0
  new Counter({
    name: `${METRIC_PREFIX}log_lines_dropped_total`,
    help: 'Log lines dropped because LOG_BUFFER_MAX_BYTES of lines were already waiting for stdout (a slow log reader).',
    registers: [registry],
    collect () {
      const dropped = log?.droppedLines() ?? 0
      this.inc(dropped - counted)
      counted = dropped
    }
  }).inc(0)
}
