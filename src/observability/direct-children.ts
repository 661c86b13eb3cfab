import type { Counter, Histogram } from 'prom-client'

/**
 * Labelled children of prom-client metrics that update prom-client's own
 * record of the child in place. prom-client's child validates its labels,
 * hashes them into a string and looks the record up on every inc/observe:
 * 0.6 µs per counter increment and 1.2–1.8 µs per histogram observation on
 * the bench machine, four of them per request (docs/benchmarks.md). The
 * record is created through prom-client's public API (inc(0), zero()) and
 * exposed by it unchanged; what this relies on of prom-client 15's internals
 * (a `hashMap` of `{ value }` and `{ bucketValues, sum, count }` records) is
 * checked by test/observability/direct-children.test.ts. Should prom-client
 * ever replace a record (reset()), the child finds the new one.
 */

interface CounterRecord { value: number }
interface HistogramRecord { bucketValues: Record<string, number>, sum: number, count: number }
type Records<R> = Record<string, R | undefined>

export interface DirectCounterChild { inc (): void }
export interface DirectHistogramChild { observe (value: number): void }

function recordKey (records: Records<{ labels?: Record<string, string | number> }>, labels: Record<string, string>): string | undefined {
  return Object.keys(records).find((key) => {
    const held = records[key]?.labels ?? {}
    const names = Object.keys(labels)
    return names.length === Object.keys(held).length && names.every((name) => String(held[name]) === labels[name])
  })
}

export function directCounterChild<T extends string> (counter: Counter<T>, labels: Record<T, string>): DirectCounterChild {
  const metric = counter as unknown as { hashMap: Records<CounterRecord & { labels?: Record<string, string | number> }> }
  const locate = (): { record: CounterRecord, key: string } | undefined => {
    counter.labels(labels).inc(0)
    const key = recordKey(metric.hashMap, labels)
    const record = key === undefined ? undefined : metric.hashMap[key]
    return key === undefined || record === undefined ? undefined : { record, key }
  }
  let held = locate()
  return {
    inc () {
      if (held === undefined || metric.hashMap[held.key] !== held.record) held = locate()
      if (held === undefined) counter.labels(labels).inc()
      else held.record.value += 1
    }
  }
}

export function directHistogramChild<T extends string> (histogram: Histogram<T>, labels: Record<T, string>, buckets: readonly number[]): DirectHistogramChild {
  const metric = histogram as unknown as { hashMap: Records<HistogramRecord & { labels?: Record<string, string | number> }> }
  const bounds = [...buckets].sort((a, b) => a - b)
  const boundKeys = bounds.map(String)
  const locate = (): { record: HistogramRecord, key: string } | undefined => {
    histogram.zero(labels)
    const key = recordKey(metric.hashMap, labels)
    const record = key === undefined ? undefined : metric.hashMap[key]
    return key === undefined || record === undefined ? undefined : { record, key }
  }
  let held = locate()
  return {
    observe (value) {
      if (held === undefined || metric.hashMap[held.key] !== held.record) held = locate()
      if (held === undefined || !Number.isFinite(value)) { histogram.observe(labels, value); return }
      const { record } = held
      // As prom-client does: the first bucket whose bound holds the value; above all of them only +Inf (the count).
      for (let index = 0; index < bounds.length; index++) {
        if (value <= (bounds[index] ?? Number.POSITIVE_INFINITY)) {
          // The record's keys are the bounds as strings: converting a double to a key on every call costs more than the rest.
          const bucket = boundKeys[index] ?? ''
          record.bucketValues[bucket] = (record.bucketValues[bucket] ?? 0) + 1
          break
        }
      }
      record.sum += value
      record.count += 1
    }
  }
}
