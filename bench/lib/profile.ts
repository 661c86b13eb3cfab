import { existsSync, readFileSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The parts of a V8 `.cpuprofile` (as written by `node --cpu-prof`) the analysis reads. */
interface CpuProfile {
  nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number, columnNumber: number }, children?: number[] }>
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Where `npm run bench` notes, inside a saved profile, what the analysis needs: the build it ran and the load window. */
export const PROFILE_META_KEY = 'qlikBrokerBench'

export interface ProfileMeta {
  distRoot: string
  requests: number
  fromUs: number
  toUs: number
}

export interface ProfileRow {
  name: string
  location: string
  ms: number
  share: number
  usPerRequest: number
}

export interface ProfileSummary {
  /** Sampled time in the window, idle excluded. */
  busyMs: number
  windowMs: number
  idleMs: number
  requests: number
  /** Self time by package (native frames count for the JS that called them), with `inclusive`: time with the package anywhere on the stack. */
  byPackage: Array<ProfileRow & { inclusiveMs: number, inclusiveUsPerRequest: number }>
  /** Self time by function. */
  selfTop: ProfileRow[]
  /** Time on the stack (self + callees) of the broker's own functions. */
  brokerInclusiveTop: ProfileRow[]
}

interface Frame { key: string, name: string, location: string, pkg: string | undefined, isBroker: boolean }

/** `node_modules/<pkg>/…` → pkg (the last node_modules wins); node:… → node:<module>. */
function packageOf (url: string, distRoot: string): string | undefined {
  if (url === '') return undefined
  if (url.startsWith('node:')) {
    const module = url.slice('node:'.length).replace(/^internal\//, '')
    const first = module.split('/')[0] ?? module
    if (first.startsWith('_http') || first === 'http' || first === 'https') return 'node:http'
    if (first === 'streams' || first === 'stream' || first.startsWith('_stream')) return 'node:stream'
    if (first === 'net' || first === 'stream_base_commons' || first === 'dns') return 'node:net'
    if (first === 'timers' || first === 'process') return 'node:timers/process'
    return `node:${first}`
  }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  if (path.startsWith(distRoot)) return `broker: ${relative(distRoot, path).split('/')[0]?.replace(/\.js$/, '') ?? ''}`
  const index = path.lastIndexOf('/node_modules/')
  if (index === -1) return 'other'
  const parts = path.slice(index + '/node_modules/'.length).split('/')
  return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : parts[0] ?? 'other'
}

/**
 * Maps a position in a built file back to src/…ts through the .js.map tsc
 * wrote next to it; packages keep their own path.
 */
function makeLocator (distRoot: string): (url: string, line: number, column: number) => string {
  const maps = new Map<string, SourceMap | undefined>()
  return (url, line, column) => {
    if (url === '') return ''
    const path = url.startsWith('file://') ? fileURLToPath(url) : url
    if (path.startsWith(distRoot)) {
      const rel = relative(distRoot, path)
      if (!maps.has(path)) {
        try {
          maps.set(path, existsSync(`${path}.map`) ? new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]) : undefined)
        } catch {
          maps.set(path, undefined)
        }
      }
      const entry = maps.get(path)?.findEntry(line, column) as { originalLine?: number } | undefined
      const original = entry?.originalLine
      return `src/${rel.replace(/\.js$/, '.ts')}:${(original ?? line) + 1}`
    }
    const index = path.lastIndexOf('/node_modules/')
    return `${index === -1 ? path : path.slice(index + '/node_modules/'.length)}:${line + 1}`
  }
}

/**
 * Self and inclusive time per function and per package, over the samples
 * taken between `fromUs` and `toUs` (the profile's own clock, which is
 * CLOCK_MONOTONIC like process.hrtime, so the load window can be cut out of
 * a profile that also covers start-up and shutdown).
 */
export function analyseProfile (file: string, options: { distRoot: string, requests: number, fromUs?: number, toUs?: number, top?: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const top = options.top ?? 25
  const locate = makeLocator(options.distRoot)
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  const frames = new Map<number, Frame>()
  const frameByKey = new Map<string, Frame>()
  const frameOf = (id: number): Frame => {
    let frame = frames.get(id)
    if (frame !== undefined) return frame
    const node = byId.get(id)
    const callFrame = node?.callFrame ?? { functionName: '', url: '', lineNumber: 0, columnNumber: 0 }
    const name = callFrame.functionName === '' ? '(anonymous)' : callFrame.functionName
    const location = locate(callFrame.url, callFrame.lineNumber, callFrame.columnNumber)
    let pkg = packageOf(callFrame.url, options.distRoot)
    if (pkg === undefined && !name.startsWith('(')) {
      // A native or builtin frame counts for the JS that called it.
      const up = parent.get(id)
      pkg = up === undefined ? undefined : frameOf(up).pkg
    }
    if (name === '(garbage collector)') pkg = '(garbage collector)'
    if (name === '(program)') pkg = '(program: V8/native outside JS)'
    frame = { key: `${name}@${location}`, name, location, pkg, isBroker: callFrame.url.startsWith('file://') && fileURLToPath(callFrame.url).startsWith(options.distRoot) }
    frames.set(id, frame)
    frameByKey.set(frame.key, frame)
    return frame
  }
  /** The distinct values `pick` gives for the frames on the stack of a node, outermost first, cached per node. */
  const distinctOnStack = (pick: (frame: Frame) => string | undefined): ((id: number) => string[]) => {
    const cache = new Map<number, string[]>()
    const onStack = (id: number): string[] => {
      let values = cache.get(id)
      if (values !== undefined) return values
      const up = parent.get(id)
      const above = up === undefined ? [] : onStack(up)
      const value = pick(frameOf(id))
      values = value !== undefined && !above.includes(value) ? [...above, value] : above
      cache.set(id, values)
      return values
    }
    return onStack
  }
  const brokerStack = distinctOnStack((frame) => (frame.isBroker ? frame.key : undefined))
  const packageStack = distinctOnStack((frame) => frame.pkg)
  const packagesInclusive = new Map<string, number>()
  const self = new Map<string, { frame: Frame, us: number }>()
  const packages = new Map<string, number>()
  const inclusive = new Map<string, { frame: Frame, us: number }>()
  let busy = 0
  let idle = 0
  let t = profile.startTime
  const from = options.fromUs ?? -Infinity
  const to = options.toUs ?? Infinity
  let windowStart = Infinity
  let windowEnd = -Infinity
  const mean = profile.samples.length > 0 ? (profile.endTime - profile.startTime) / profile.samples.length : 0
  for (let index = 0; index < profile.samples.length; index++) {
    t += profile.timeDeltas[index] ?? 0
    if (t < from || t > to) continue
    windowStart = Math.min(windowStart, t)
    windowEnd = Math.max(windowEnd, t)
    const id = profile.samples[index] ?? 0
    // A sample stands for the time until the next one.
    const weight = profile.timeDeltas[index + 1] ?? mean
    const frame = frameOf(id)
    if (frame.name === '(idle)') {
      idle += weight
      continue
    }
    if (frame.name === '(root)') continue
    busy += weight
    const entry = self.get(frame.key) ?? { frame, us: 0 }
    entry.us += weight
    self.set(frame.key, entry)
    const pkg = frame.pkg ?? '(unattributed native)'
    packages.set(pkg, (packages.get(pkg) ?? 0) + weight)
    for (const name of packageStack(id)) packagesInclusive.set(name, (packagesInclusive.get(name) ?? 0) + weight)
    for (const key of brokerStack(id)) {
      const stackFrame = frameByKey.get(key)
      if (stackFrame === undefined) continue
      const total = inclusive.get(key) ?? { frame: stackFrame, us: 0 }
      total.us += weight
      inclusive.set(key, total)
    }
  }
  const row = (name: string, location: string, us: number): ProfileRow => ({
    name,
    location,
    ms: us / 1000,
    share: busy > 0 ? us / busy : 0,
    usPerRequest: options.requests > 0 ? us / options.requests : 0
  })
  return {
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    windowMs: windowEnd > windowStart ? (windowEnd - windowStart) / 1000 : 0,
    requests: options.requests,
    byPackage: [...packages.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => {
      const inclusiveUs = Math.max(us, packagesInclusive.get(name) ?? 0)
      return { ...row(name, '', us), inclusiveMs: inclusiveUs / 1000, inclusiveUsPerRequest: options.requests > 0 ? inclusiveUs / options.requests : 0 }
    }),
    selfTop: [...self.values()].sort((a, b) => b.us - a.us).slice(0, top).map(({ frame, us }) => row(frame.name, frame.location, us)),
    brokerInclusiveTop: [...inclusive.values()].sort((a, b) => b.us - a.us).slice(0, top).map(({ frame, us }) => row(frame.name, frame.location, us))
  }
}

const pct = (share: number): string => `${(share * 100).toFixed(1)} %`
const us = (value: number): string => value.toFixed(1)

export function renderProfile (summary: ProfileSummary, packageRows = 18): string[] {
  const out: string[] = []
  out.push(`${summary.requests} requests in ${(summary.windowMs / 1000).toFixed(1)} s of load; busy (non-idle) samples ${summary.busyMs.toFixed(0)} ms = ${(summary.requests > 0 ? summary.busyMs * 1000 / summary.requests : 0).toFixed(1)} µs of broker CPU per request (idle ${summary.idleMs.toFixed(0)} ms).`)
  out.push('', '**CPU by package**: self time (builtins and natives such as socket writes count for the JS that called them) and inclusive time (the package anywhere on the stack, so a library\'s socket writes and serialisation count for it)', '', '| package | self ms | self share | self µs/request | inclusive µs/request |', '|---|---:|---:|---:|---:|')
  for (const entry of summary.byPackage.slice(0, packageRows)) out.push(`| ${entry.name} | ${entry.ms.toFixed(0)} | ${pct(entry.share)} | ${us(entry.usPerRequest)} | ${us(entry.inclusiveUsPerRequest)} |`)
  out.push('', '**Top functions by self time**', '', '| function | where | ms | share | µs/request |', '|---|---|---:|---:|---:|')
  for (const entry of summary.selfTop) out.push(`| \`${entry.name}\` | ${entry.location} | ${entry.ms.toFixed(0)} | ${pct(entry.share)} | ${us(entry.usPerRequest)} |`)
  out.push('', '**Broker functions by inclusive time** (self + everything they call synchronously)', '', '| function | where | ms | share | µs/request |', '|---|---|---:|---:|---:|')
  for (const entry of summary.brokerInclusiveTop) out.push(`| \`${entry.name}\` | ${entry.location} | ${entry.ms.toFixed(0)} | ${pct(entry.share)} | ${us(entry.usPerRequest)} |`)
  return out
}
