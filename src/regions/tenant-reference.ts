import type { RegionConfig } from '../config/load-config.js'
import { BrokerError } from '../http/broker-error.js'

export type TenantReference =
  | { kind: 'hostname', hostname: string }
  | { kind: 'id', id: string }

const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
/** The register host is the region's lifecycle endpoint, never a tenant. */
const RESERVED_LABELS = new Set(['register'])

/**
 * Reads the `{tenant}` of a tenant-level route: a tenant id, or a hostname
 * that must be `<label>.<region tenant domain>`. Everything else (other
 * domains, IP literals, ports, userinfo, slashes, dots of `..`) is refused
 * here, before any token is minted: a token only goes to allow-listed hosts.
 */
export function parseTenantReference (value: string, region: RegionConfig): TenantReference {
  if (TENANT_ID.test(value)) return { kind: 'id', id: value }
  const hostname = value.toLowerCase().replace(/\.$/, '')
  const host = checkTenantHost(hostname, region)
  if (host === undefined) {
    throw new BrokerError('QB_INVALID_TENANT', `"${printable(value)}" is neither a tenant id nor a tenant hostname of region "${region.code}" (<name>.${region.tenantDomain})`, {
      issues: [{ pointer: '/params/tenant', message: `expected a tenant id or <name>.${region.tenantDomain}` }]
    })
  }
  return { kind: 'hostname', hostname: host }
}

/** The hostname if it is a tenant host of the region, else undefined. */
export function checkTenantHost (hostname: string, region: RegionConfig): string | undefined {
  const suffix = `.${region.tenantDomain}`
  if (!hostname.endsWith(suffix)) return undefined
  const label = hostname.slice(0, -suffix.length)
  if (!DNS_LABEL.test(label) || RESERVED_LABELS.has(label)) return undefined
  return hostname
}

function printable (value: string): string {
  const cleaned = value.replace(/[^\x20-\x7e]/g, '?')
  return cleaned.length > 80 ? `${cleaned.slice(0, 77)}...` : cleaned
}
