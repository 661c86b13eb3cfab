import type { RegionConfig } from '../config/load-config.js'

/** Which kind of Qlik host a request or token is for; the host name itself is never a label. */
export type HostKind = 'register' | 'tenant'

/** A bounded set: Qlik's operation as the broker recognises it from method and path. */
export type UpstreamOperation = 'token' | 'tenants.create' | 'tenants.read' | 'tenants.update' | 'tenants.deactivate' | 'tenants.reactivate' | 'tenant-api'

export const HOST_KINDS: readonly HostKind[] = ['register', 'tenant']

/** Label value for a host outside every configured region (none is ever sent a token; kept for safety). */
export const UNKNOWN_REGION = 'unknown'

export interface HostLabels {
  region: string
  hostKind: HostKind
}

/**
 * Maps a Qlik host to (region, host kind) with two map lookups, so metrics
 * and spans never carry the host name itself.
 */
export function createHostClassifier (regions: readonly RegionConfig[]): { (host: string): HostLabels, kindIn (region: string, host: string): HostKind } {
  const byRegisterHost = new Map<string, HostLabels>()
  const byTenantDomain = new Map<string, HostLabels>()
  const registerHostOf = new Map<string, string>()
  for (const region of regions) {
    byRegisterHost.set(region.registerHost, { region: region.code, hostKind: 'register' })
    byTenantDomain.set(region.tenantDomain, { region: region.code, hostKind: 'tenant' })
    registerHostOf.set(region.code, region.registerHost)
  }
  const unknown: HostLabels = { region: UNKNOWN_REGION, hostKind: 'tenant' }
  const classify = (host: string): HostLabels => byRegisterHost.get(host) ?? byTenantDomain.get(host.slice(host.indexOf('.') + 1)) ?? unknown
  return Object.assign(classify, {
    /** The host kind of `host` when the region is already known (token events). */
    kindIn: (region: string, host: string): HostKind => (registerHostOf.get(region) === host ? 'register' : 'tenant')
  })
}

const TENANTS = '/api/v1/tenants'

/**
 * The operation of an upstream call, from its method and path alone: the
 * token endpoint, Qlik's Tenants API (whichever broker route led there, so a
 * tenant read through the tenant-level route also counts as `tenants.read`),
 * or any other tenant-level API.
 */
export function upstreamOperation (method: string, path: string): UpstreamOperation {
  if (path === '/oauth/token') return 'token'
  if (!path.startsWith(TENANTS)) return 'tenant-api'
  const query = path.indexOf('?')
  const rest = query === -1 ? path.slice(TENANTS.length) : path.slice(TENANTS.length, query)
  if (rest === '' || rest === '/') return method === 'POST' ? 'tenants.create' : 'tenant-api'
  if (rest[0] !== '/') return 'tenant-api'
  const slash = rest.indexOf('/', 1)
  if (slash === -1) return method === 'GET' ? 'tenants.read' : method === 'PATCH' ? 'tenants.update' : 'tenant-api'
  if (method !== 'POST') return 'tenant-api'
  const action = rest.slice(slash)
  return action === '/actions/deactivate' ? 'tenants.deactivate' : action === '/actions/reactivate' ? 'tenants.reactivate' : 'tenant-api'
}

const STATUS_CLASSES = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'] as const

/** `2xx`, `4xx`, …; anything outside 100–599 is `5xx` (the broker never sends it). */
export function statusClass (status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100)] ?? '5xx'
}

type Key = string | number

interface Node<C> {
  child: C | undefined
  next: Map<Key, Node<C>> | undefined
}

function step<C> (map: Map<Key, Node<C>>, key: Key): Node<C> {
  let node = map.get(key)
  if (node === undefined) {
    node = { child: undefined, next: undefined }
    map.set(key, node)
  }
  return node
}

/**
 * Label children of one metric, kept in nested maps by label value: after the
 * first use of a combination the hot path does Map lookups, without building
 * a label object or a string. Label values must come from bounded sets.
 */
export function childCache<C> (create: (...values: string[]) => C): (a: Key, b?: Key, c?: Key, d?: Key) => C {
  const root = new Map<Key, Node<C>>()
  return (a, b, c, d) => {
    let node = step(root, a)
    if (b !== undefined) node = step(node.next ??= new Map(), b)
    if (c !== undefined) node = step(node.next ??= new Map(), c)
    if (d !== undefined) node = step(node.next ??= new Map(), d)
    node.child ??= create(...[a, b, c, d].filter((value) => value !== undefined).map(String))
    return node.child
  }
}
