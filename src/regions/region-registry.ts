import type { RegionConfig } from '../config/load-config.js'
import { BrokerError } from '../http/broker-error.js'

export interface RegionRegistry {
  readonly all: readonly RegionConfig[]
  /** The region, or a 404 problem naming the configured ones. */
  require (code: string): RegionConfig
}

export function createRegionRegistry (regions: readonly RegionConfig[]): RegionRegistry {
  const byCode = new Map(regions.map((region) => [region.code, region]))
  const known = regions.map((region) => region.code).join(', ')
  return {
    all: regions,
    require (code) {
      const region = byCode.get(code)
      if (region === undefined) throw new BrokerError('QB_UNKNOWN_REGION', `region "${code}" is not configured on this broker (configured: ${known})`)
      return region
    }
  }
}
