/** Requests Qlik allows in any window of `windowMs`, per bot user per tenant (docs/reference/qlik-cloud-api.md §5). */
export interface BucketLimit {
  requests: number
  windowMs: number
}

/** A Qlik endpoint with its own limit ("special" tier), matched by method and path. */
export interface BucketRule {
  /** The bucket's name: rules with the same name share one budget. */
  name: string
  /** An HTTP method, or `*` for any. */
  method: string
  /** A Qlik path; `*` matches one segment, a trailing `**` any rest. */
  path: string
  limit: BucketLimit
}

const STANDARD_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'])

export const TIER1_BUCKET = 'tier1'
export const TIER2_BUCKET = 'tier2'

/**
 * The special tiers Qlik documents with a number: reloads 50/min
 * (docs/reference/qlik-cloud-api.md §11, changelog 108). Whether a special
 * limit is also counted over 5 minutes is not documented, so it is budgeted
 * as stated, per minute: the stricter reading, which never provokes a 429.
 */
export const DOCUMENTED_SPECIAL_BUCKETS: readonly BucketRule[] = [
  { name: 'reloads', method: 'POST', path: '/api/v1/reloads', limit: { requests: 50, windowMs: 60_000 } }
]

export interface BucketTable {
  /** The bucket a Qlik request is counted in: the first matching special rule, else its tier by method. */
  bucketOf (method: string, path: string): string
  /** Every bucket's limit, by name. */
  readonly limits: ReadonlyMap<string, BucketLimit>
}

interface CompiledRule {
  name: string
  method: string
  segments: string[]
  rest: boolean
}

function compile (rule: BucketRule): CompiledRule {
  const segments = rule.path.split('/').filter((segment) => segment !== '')
  const rest = segments.at(-1) === '**'
  return { name: rule.name, method: rule.method.toUpperCase(), segments: rest ? segments.slice(0, -1) : segments, rest }
}

function matches (rule: CompiledRule, method: string, segments: string[]): boolean {
  if (rule.method !== '*' && rule.method !== method) return false
  if (rule.rest ? segments.length < rule.segments.length : segments.length !== rule.segments.length) return false
  return rule.segments.every((segment, index) => segment === '*' || segment === segments[index])
}

/**
 * Qlik counts Tier 1 (most GETs) and Tier 2 (writes, including every
 * register-host call and /oauth/token) per bot user per tenant, and a few
 * endpoints in a bucket of their own; a 429 blocks only its bucket (§5, §11).
 */
export function createBucketTable (tiers: { tier1: BucketLimit, tier2: BucketLimit }, special: readonly BucketRule[] = DOCUMENTED_SPECIAL_BUCKETS): BucketTable {
  const limits = new Map<string, BucketLimit>([[TIER1_BUCKET, tiers.tier1], [TIER2_BUCKET, tiers.tier2]])
  for (const rule of special) {
    if (rule.name === TIER1_BUCKET || rule.name === TIER2_BUCKET) throw new TypeError(`bucket "${rule.name}" is a tier; a special bucket needs a name of its own`)
    const known = limits.get(rule.name)
    if (known !== undefined && (known.requests !== rule.limit.requests || known.windowMs !== rule.limit.windowMs)) {
      throw new TypeError(`bucket "${rule.name}" is given two different limits`)
    }
    limits.set(rule.name, rule.limit)
  }
  const rules = special.map(compile)
  // The rules that can match a method, in their order: the documented ones are all POSTs, so a GET splits no path.
  const rulesByMethod = new Map<string, CompiledRule[]>()
  const rulesFor = (method: string): CompiledRule[] => {
    let found = rulesByMethod.get(method)
    if (found === undefined) {
      found = rules.filter((rule) => rule.method === '*' || rule.method === method)
      // Methods are caller input: only the standard ones are kept, the others are filtered each time.
      if (STANDARD_METHODS.has(method)) rulesByMethod.set(method, found)
    }
    return found
  }
  return {
    limits,
    bucketOf (method, path) {
      const upper = method.toUpperCase()
      const candidates = rulesFor(upper)
      if (candidates.length > 0) {
        const query = path.indexOf('?')
        const segments = (query === -1 ? path : path.slice(0, query)).split('/').filter((segment) => segment !== '')
        for (const rule of candidates) if (matches(rule, upper, segments)) return rule.name
      }
      return upper === 'GET' || upper === 'HEAD' || upper === 'OPTIONS' ? TIER1_BUCKET : TIER2_BUCKET
    }
  }
}
