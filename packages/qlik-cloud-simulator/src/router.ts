export interface RouteShape {
  method: string
  /** Literal segments and `{param}` segments, e.g. `/api/v1/tenants/{tenantId}`. */
  pattern: string
}

export interface CompiledRoute<T extends RouteShape> {
  def: T
  /** Counter key, `METHOD /pattern`: never holds a raw id. */
  key: string
}

export interface RouteMatch<T extends RouteShape> {
  route: CompiledRoute<T>
  params: Record<string, string>
}

export interface Router<T extends RouteShape> {
  match (method: string, path: string): RouteMatch<T> | undefined
}

// Shared by parameterless matches; frozen so a handler cannot pollute it.
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>

interface Entry<T extends RouteShape> {
  route: CompiledRoute<T>
  /** Literal segment, or the parameter name prefixed by `{`. */
  segments: string[]
}

/**
 * Segment matcher over a handful of routes, bucketed by method and segment
 * count. First match wins, so list literal routes (`/tenants/me`) before
 * parameterised ones (`/tenants/{tenantId}`).
 */
export function createRouter<T extends RouteShape> (defs: T[]): Router<T> {
  const buckets = new Map<string, Array<Entry<T>>>()
  for (const def of defs) {
    const segments = def.pattern.split('/').map((s) => s.startsWith('{') ? s.slice(0, -1) : s)
    const bucketKey = `${def.method} ${segments.length}`
    let bucket = buckets.get(bucketKey)
    if (bucket === undefined) buckets.set(bucketKey, bucket = [])
    bucket.push({ route: { def, key: `${def.method} ${def.pattern}` }, segments })
  }

  return {
    match (method, path) {
      const parts = path.split('/')
      const bucket = buckets.get(`${method} ${parts.length}`)
      if (bucket === undefined) return undefined
      for (const entry of bucket) {
        const params = matchSegments(entry.segments, parts)
        if (params !== undefined) return { route: entry.route, params }
      }
      return undefined
    }
  }
}

/** Params when every segment matches (same length assumed), else undefined. */
function matchSegments (segments: string[], parts: string[]): Record<string, string> | undefined {
  let params: Record<string, string> | undefined
  for (let i = 0; i < parts.length; i++) {
    const segment = segments[i] as string
    const part = parts[i] as string
    if (!segment.startsWith('{')) {
      if (segment !== part) return undefined
      continue
    }
    if (part === '') return undefined
    try {
      params ??= {}
      params[segment.slice(1)] = decodeURIComponent(part)
    } catch {
      return undefined
    }
  }
  return params ?? NO_PARAMS
}
