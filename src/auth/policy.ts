import type { Action, Grant } from '../config/schema.js'
import type { Caller } from './caller.js'
import { compilePathPattern } from './path-pattern.js'

/**
 * `tenants` lists every name the target tenant is known by (id, hostnames);
 * `createdByCaller` says whether the broker's tenant registry records this
 * caller as its creator (what a `tenants: 'created'` grant needs). The
 * caller of evaluatePolicy looks both up, so the evaluation stays pure.
 */
export type PolicyRequest =
  | { kind: 'action', region: string, action: Action, tenants: readonly string[], createdByCaller?: boolean }
  | { kind: 'tenant-api', region: string, method: string, path: string, tenants: readonly string[], createdByCaller?: boolean }

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

function grantCoversTenant (grant: Grant, request: PolicyRequest): boolean {
  if (grant.tenants === '*') return true
  const action = request.kind === 'action' ? request.action : undefined
  // Creating is how a tenant becomes one "this caller created", so a `created` grant allows it.
  if (grant.tenants === 'created') return action === 'tenants:create' || request.createdByCaller === true
  // Creating makes a tenant nobody could have listed yet: a listing grant cannot allow it.
  if (action === 'tenants:create') return false
  const listed = grant.tenants.map(tenantKey)
  return request.tenants.some((tenant) => listed.includes(tenantKey(tenant)))
}

/**
 * How a tenant name compares: hostnames are case-insensitive (a trailing
 * dot is the same host), Qlik's tenant ids are case-sensitive, so
 * `AcmeTenant01` and `acmetenant01` are two tenants
 * (docs/reference/qlik-cloud-api.md §1.1, §3.3).
 */
export function tenantKey (name: string): string {
  return name.includes('.') ? name.toLowerCase().replace(/\.$/, '') : name
}

/**
 * Default deny: a request is allowed only when one grant covers its region,
 * its action (or method and path for tenant-level calls) and its tenant.
 * `tenants` lists every name the target tenant is known by (id, hostnames).
 */
export function evaluatePolicy (caller: Caller, request: PolicyRequest): PolicyDecision {
  for (const [index, grant] of caller.grants.entries()) {
    if (grant.regions !== '*' && !grant.regions.includes(request.region)) continue
    if (request.kind === 'action') {
      if (!grant.actions.includes(request.action)) continue
      if (!grantCoversTenant(grant, request)) continue
    } else {
      // HEAD is a GET without a body: a GET grant covers it.
      const methodAllowed = (methods: Set<string> | '*'): boolean => methods === '*' || methods.has(request.method) || (request.method === 'HEAD' && methods.has('GET'))
      if (!tenantApiRules(grant).some((rule) => methodAllowed(rule.methods) && rule.matches(request.path))) continue
      if (!grantCoversTenant(grant, request)) continue
    }
    return { allowed: true, grantIndex: index, reason: `grant #${index + 1}` }
  }
  const what = request.kind === 'action' ? request.action : `${request.method} ${request.path}`
  return { allowed: false, reason: `no grant of caller "${caller.name}" allows ${what} in region "${request.region}"${request.tenants.length > 0 ? ` on tenant "${request.tenants[0] ?? ''}"` : ''}` }
}

/** Whether some grant could allow the request for some tenant: checked before any token is minted. */
export function mayAllowForSomeTenant (caller: Caller, request: PolicyRequest): boolean {
  const anyTenant: PolicyRequest = { ...request, tenants: [] }
  return caller.grants.some((grant) => {
    if (grant.tenants === '*') return evaluatePolicy({ ...caller, grants: [grant] }, anyTenant).allowed
    if (request.kind === 'action' && request.action === 'tenants:create' && grant.tenants !== 'created') return false
    return evaluatePolicy({ ...caller, grants: [{ ...grant, tenants: '*' }] }, anyTenant).allowed
  })
}
