import type { Action, Grant } from '../config/schema.js'
import type { Caller } from './caller.js'
import { compilePathPattern } from './path-pattern.js'

/**
 * `tenants` lists every name the target tenant is known by (id, hostnames);
 * `createdByCaller` says whether the broker's tenant registry records this
 * caller as its creator (what a `tenants: 'created'` grant needs). The
 * caller of evaluatePolicy looks both up, so the evaluation stays pure.
 */
export type PolicyRequest = CallWithoutTenant & { tenants: readonly string[], createdByCaller?: boolean }

/** What is asked, without the tenant it is asked on. */
export type CallWithoutTenant =
  | { kind: 'action', region: string, action: Action }
  | { kind: 'tenant-api', region: string, method: string, path: string }

export interface PolicyDecision {
  allowed: boolean
  /** Index of the grant that allowed it, for logs and audit. */
  grantIndex?: number
  reason: string
}

const compiled = new WeakMap<Grant, Array<{ methods: Set<string> | '*', matches: (path: string) => boolean }>>()

function tenantApiRules (grant: Grant): Array<{ methods: Set<string> | '*', matches: (path: string) => boolean }> {
  let rules = compiled.get(grant)
  if (rules === undefined) {
    rules = grant.tenantApi.map((rule) => {
      const [methods = '*', pattern = '/'] = rule.split(' ')
      return { methods: methods === '*' ? '*' as const : new Set(methods.split('|')), matches: compilePathPattern(pattern) }
    })
    compiled.set(grant, rules)
  }
  return rules
}

/** A listing grant's names as they compare (tenantKey), kept per grant object: grants live as long as the config. */
const listedKeys = new WeakMap<Grant, ReadonlySet<string>>()

function listedKeysOf (grant: Grant, names: readonly string[]): ReadonlySet<string> {
  let keys = listedKeys.get(grant)
  if (keys === undefined) {
    keys = new Set(names.map(tenantKey))
    listedKeys.set(grant, keys)
  }
  return keys
}

function grantCoversTenant (grant: Grant, request: PolicyRequest): boolean {
  if (grant.tenants === '*') return true
  const action = request.kind === 'action' ? request.action : undefined
  // Creating is how a tenant becomes one "this caller created", so a `created` grant allows it.
  if (grant.tenants === 'created') return action === 'tenants:create' || request.createdByCaller === true
  // Creating makes a tenant nobody could have listed yet: a listing grant cannot allow it.
  if (action === 'tenants:create') return false
  const listed = listedKeysOf(grant, grant.tenants)
  return request.tenants.some((tenant) => listed.has(tenantKey(tenant)))
}

/** Whether one grant allows the call (its region, and its action or its method and path), whatever the tenant. */
function grantAllowsCall (grant: Grant, call: CallWithoutTenant): boolean {
  if (grant.regions !== '*' && !grant.regions.includes(call.region)) return false
  return call.kind === 'action' ? grant.actions.includes(call.action) : tenantApiAllows(grant, call.method, call.path)
}

function tenantApiAllows (grant: Grant, method: string, path: string): boolean {
  for (const rule of tenantApiRules(grant)) {
    // HEAD is a GET without a body: a GET grant covers it.
    const methodAllowed = rule.methods === '*' || rule.methods.has(method) || (method === 'HEAD' && rule.methods.has('GET'))
    if (methodAllowed && rule.matches(path)) return true
  }
  return false
}

/** `grant #N`, made once per index. */
const grantReasons: string[] = []

/**
 * How a tenant name compares: hostnames are case-insensitive (a trailing
 * dot is the same host), Qlik's tenant ids are case-sensitive, so
 * `AcmeTenant01` and `acmetenant01` are two tenants
 * (docs/reference/qlik-cloud-api.md §1.1, §3.3).
 */
export function tenantKey (name: string): string {
  if (!name.includes('.')) return name
  const lower = name.toLowerCase()
  return lower.endsWith('.') ? lower.slice(0, -1) : lower
}

/**
 * Default deny: a request is allowed only when one grant covers its region,
 * its action (or method and path for tenant-level calls) and its tenant.
 * `tenants` lists every name the target tenant is known by (id, hostnames).
 */
export function evaluatePolicy (caller: Caller, request: PolicyRequest): PolicyDecision {
  const { grants } = caller
  for (let index = 0; index < grants.length; index++) {
    const grant = grants[index] as Grant
    if (!grantAllowsCall(grant, request) || !grantCoversTenant(grant, request)) continue
    const reason = grantReasons[index] ?? `grant #${index + 1}`
    grantReasons[index] = reason
    return { allowed: true, grantIndex: index, reason }
  }
  const what = request.kind === 'action' ? request.action : `${request.method} ${request.path}`
  return { allowed: false, reason: `no grant of caller "${caller.name}" allows ${what} in region "${request.region}"${request.tenants.length > 0 ? ` on tenant "${request.tenants[0] ?? ''}"` : ''}` }
}

/**
 * Whether some grant could allow the request for some tenant (its `tenants`
 * are not looked at): checked before any token is minted. Only a `created`
 * grant can allow creating a tenant; a listing one cannot (see grantCoversTenant).
 */
export function mayAllowForSomeTenant (caller: Caller, call: CallWithoutTenant): boolean {
  const creating = call.kind === 'action' && call.action === 'tenants:create'
  return caller.grants.some((grant) => (creating && Array.isArray(grant.tenants) ? false : grantAllowsCall(grant, call)))
}

/**
 * Whether a grant for all tenants allows the call: then the decision is
 * "allowed" whatever tenant it is asked on (evaluatePolicy would find that
 * grant or an earlier one that also allows), and the tenant's names and
 * creator need not be gathered for it.
 */
export function allowsOnEveryTenant (caller: Caller, call: CallWithoutTenant): boolean {
  return caller.grants.some((grant) => grant.tenants === '*' && grantAllowsCall(grant, call))
}
