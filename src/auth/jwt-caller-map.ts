import type { CallerConfig } from '../config/schema.js'
import type { Caller } from './caller.js'
import type { ClaimRule } from './jwt-config.js'

export type CallerMatch =
  | { kind: 'caller', caller: Caller }
  | { kind: 'none' }
  | { kind: 'ambiguous', callers: string[] }

/**
 * The value at a dotted claim path. Claim names may contain dots themselves
 * (`kubernetes.io`), so at each level the longest name present wins, then
 * shorter ones: `kubernetes.io.namespace` finds `{ "kubernetes.io": { namespace } }`.
 */
export function claimAt (claims: unknown, path: string): unknown {
  const find = (node: unknown, segments: readonly string[]): unknown => {
    if (segments.length === 0) return node
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined
    const record = node as Record<string, unknown>
    for (let length = segments.length; length > 0; length--) {
      const name = segments.slice(0, length).join('.')
      if (Object.hasOwn(record, name)) {
        const found = find(record[name], segments.slice(length))
        if (found !== undefined) return found
      }
    }
    return undefined
  }
  return find(claims, path.split('.'))
}

function valueMatches (actual: unknown, expected: string | number | boolean | ReadonlyArray<string | number | boolean>): boolean {
  const wanted = Array.isArray(expected) ? expected : [expected]
  // A list claim (e.g. `groups`) matches when it holds a wanted value.
  const values = Array.isArray(actual) ? actual : [actual]
  return values.some((value) => wanted.includes(value as string | number | boolean))
}

function ruleMatches (rule: ClaimRule, claims: Record<string, unknown>): boolean {
  return Object.entries(rule.match).every(([path, expected]) => valueMatches(claimAt(claims, path), expected))
}

/**
 * Maps a verified token to the caller it belongs to: by exact subject first
 * (`<issuer name>:<sub>`), else by claim rules. Several callers matching by
 * claims is refused rather than guessed.
 */
export function createJwtCallerMap (callers: readonly CallerConfig[]): (issuerName: string, claims: Record<string, unknown>) => CallerMatch {
  const frozen = new Map(callers.map((caller) => [caller.name, Object.freeze({
    name: caller.name,
    via: 'jwt' as const,
    grants: caller.grants,
    // The caller's own quota applies however it authenticates.
    ...(caller.quota === undefined ? {} : { quota: caller.quota })
  }) satisfies Caller]))
  const bySubject = new Map<string, Caller>()
  const byIssuer = new Map<string, Array<{ rule: ClaimRule, caller: Caller }>>()
  for (const config of callers) {
    const caller = frozen.get(config.name)
    if (caller === undefined) continue
    for (const subject of config.subjects ?? []) bySubject.set(subject, caller)
    for (const rule of config.claims ?? []) {
      const rules = byIssuer.get(rule.issuer) ?? []
      rules.push({ rule, caller })
      byIssuer.set(rule.issuer, rules)
    }
  }
  return (issuerName, claims) => {
    if (typeof claims.sub === 'string') {
      const caller = bySubject.get(`${issuerName}:${claims.sub}`)
      if (caller !== undefined) return { kind: 'caller', caller }
    }
    const matched = new Set<Caller>()
    for (const { rule, caller } of byIssuer.get(issuerName) ?? []) {
      if (ruleMatches(rule, claims)) matched.add(caller)
    }
    const [first, ...others] = matched
    if (first === undefined) return { kind: 'none' }
    if (others.length > 0) return { kind: 'ambiguous', callers: [...matched].map((caller) => caller.name) }
    return { kind: 'caller', caller: first }
  }
}
