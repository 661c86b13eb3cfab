import type { CallerConfig } from '../config/schema.js'
import { createApiKeyIndex } from './api-keys.js'
import type { Caller, CallerVerifier } from './caller.js'

export function createApiKeyVerifier (callers: readonly CallerConfig[]): CallerVerifier {
  const find = createApiKeyIndex<Caller>(callers.flatMap((caller) => caller.apiKeyHashes.map((hash) => ({
    hash,
    owner: Object.freeze({ name: caller.name, via: 'api-key' as const, grants: caller.grants, quota: caller.quota })
  }))))
  return {
    async verify (credential) {
      return find(credential)
    },
    known: find
  }
}
