import type { Caller, CallerVerifier } from '../auth/caller.js'
import type { CallerConfig } from '../config/schema.js'

/** One version of the callers and their grants, as one config file defined them. */
export interface CallerSet {
  /** 1 at start-up, +1 per accepted reload. */
  version: number
  loadedAt: string
  callers: readonly CallerConfig[]
  byName: ReadonlyMap<string, CallerConfig>
}

/**
 * The callers in force. Verifiers and policy read `current()` on every
 * request, so a reload takes effect on the next request without a restart;
 * a request already running keeps the caller it was authenticated as.
 */
export interface CallerDirectory {
  current (): CallerSet
  /** Puts a new caller set in force (already validated). */
  replace (callers: readonly CallerConfig[]): CallerSet
}

export function createCallerDirectory (callers: readonly CallerConfig[], now: () => Date = () => new Date()): CallerDirectory {
  const make = (list: readonly CallerConfig[], version: number): CallerSet => Object.freeze({
    version,
    loadedAt: now().toISOString(),
    callers: list,
    byName: new Map(list.map((caller) => [caller.name, caller]))
  })
  let set = make(callers, 1)
  return {
    current: () => set,
    replace (list) {
      set = make(list, set.version + 1)
      return set
    }
  }
}

/** A verifier built from the caller set in force, rebuilt (once) after each reload, e.g. the API-key index. */
export function createReloadingVerifier (directory: CallerDirectory, build: (callers: readonly CallerConfig[]) => CallerVerifier): CallerVerifier {
  let built = { version: directory.current().version, verifier: build(directory.current().callers) }
  const inForce = (): CallerVerifier => {
    const { version, callers } = directory.current()
    if (version !== built.version) built = { version, verifier: build(callers) }
    return built.verifier
  }
  return {
    async verify (credential) {
      return await inForce().verify(credential)
    },
    known: (credential) => inForce().known?.(credential)
  }
}

/**
 * Whatever verified the credential (API key, JWT), the grants are the ones
 * in force now, looked up by caller name, and a caller removed by a reload
 * is no longer anyone. So verifiers built once at start-up (JWT issuers)
 * still follow policy reloads.
 */
export function withCurrentGrants (directory: CallerDirectory, verifier: CallerVerifier): CallerVerifier {
  const inForce = (caller: Caller | undefined): Caller | undefined => {
    if (caller === undefined) return undefined
    const entry = directory.current().byName.get(caller.name)
    if (entry === undefined) return undefined
    return entry.grants === caller.grants ? caller : Object.freeze({ ...caller, grants: entry.grants } satisfies Caller)
  }
  const known = verifier.known
  return {
    async verify (credential) {
      return inForce(await verifier.verify(credential))
    },
    ...(known === undefined ? {} : { known: (credential: string) => inForce(known(credential)) })
  }
}
