import type { RegionConfig } from '../../../src/config/load-config.js'

/** A region as loadConfig derives it from the defaults (qlikcloud.com, file secrets). */
export function regionConfig (code: string, overrides: Partial<RegionConfig> = {}): RegionConfig {
  return {
    code,
    registerHost: `register.${code}.qlikcloud.com`,
    tenantDomain: `${code}.qlikcloud.com`,
    secretPath: code,
    upstreamOrigin: undefined,
    ...overrides
  }
}
