import assert from 'node:assert/strict'
import { http } from '../support/http.js'

/** One scrape: every sample by `name{label="value",…}` with the labels sorted, and the raw text. */
export interface Scrape {
  text: string
  samples: Map<string, number>
  /** The sample's value, or undefined when the series is absent. */
  value (name: string, labels?: Record<string, string>): number | undefined
  /** The value, 0 when the series is absent (counters not yet created). */
  count (name: string, labels?: Record<string, string>): number
  /** Every series of a metric, with its labels. */
  series (name: string): Array<{ labels: Record<string, string>, value: number }>
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

function key (name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels).sort().map((label) => `${label}="${labels[label] ?? ''}"`)
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`
}

/** Parses the Prometheus text format (what prom-client writes); fails on a line it does not understand. */
export function parseScrape (text: string): Scrape {
  const samples = new Map<string, number>()
  const parsed: Array<{ name: string, labels: Record<string, string>, value: number }> = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = SAMPLE.exec(line)
    assert.ok(match, `not a Prometheus sample line: ${line}`)
    const [, name = '', labelText = '', raw = ''] = match
    const labels: Record<string, string> = {}
    for (const [, label = '', value = ''] of labelText.matchAll(LABEL)) labels[label] = value
    // Prometheus reads NaN in any case (prom-client writes `Nan`).
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : /^nan$/i.test(raw) ? Number.NaN : Number(raw)
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(raw), `not a number in: ${line}`)
    samples.set(key(name, labels), value)
    parsed.push({ name, labels, value })
  }
  return {
    text,
    samples,
    value: (name, labels = {}) => samples.get(key(name, labels)),
    count: (name, labels = {}) => samples.get(key(name, labels)) ?? 0,
    series: (name) => parsed.filter((sample) => sample.name === name).map(({ labels, value }) => ({ labels, value }))
  }
}

/** GET /metrics without any credential, as Prometheus does. */
export async function scrape (base: string): Promise<Scrape> {
  const response = await http(base, 'GET', '/metrics')
  assert.equal(response.status, 200, response.text)
  assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  return parseScrape(response.text)
}
