/** Datacenters the Tenants API accepts on create (reference §1.2). */
export const DATACENTERS: readonly string[] = [
  'us-east-1', 'eu-west-1', 'eu-central-1', 'eu-west-2', 'ap-southeast-1', 'ap-southeast-2', 'ap-northeast-1'
]

// Follows Qlik Help and AWS naming (sg = Singapore = ap-southeast-1), not the
// swapped labels of the Tenants API text: see the conflict note in reference §1.2.
const DEFAULT_DATACENTER: Readonly<Record<string, string>> = {
  us: 'us-east-1',
  eu: 'eu-west-1',
  de: 'eu-central-1',
  uk: 'eu-west-2',
  sg: 'ap-southeast-1',
  ap: 'ap-southeast-2',
  jp: 'ap-northeast-1'
}

export function defaultDatacenter (region: string): string {
  return Object.hasOwn(DEFAULT_DATACENTER, region) ? DEFAULT_DATACENTER[region] as string : 'unknown'
}

export const REGION_PATTERN = /^[a-z0-9][a-z0-9-]*$/

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** True for `<label>.<region>.<domain>` (one DNS label, not `register`). */
export function isTenantHostname (hostname: string, region: string, domain: string): boolean {
  const suffix = `.${region}.${domain}`
  if (!hostname.endsWith(suffix)) return false
  const label = hostname.slice(0, -suffix.length)
  return label !== 'register' && LABEL.test(label)
}

/**
 * Demo regional clients (test data), used when none are configured. Spelled
 * out rather than generated, so a byte search finds these secrets wherever
 * they end up (the broker's image must hold none of them).
 */
export const DEMO_CLIENTS = [
  { region: 'us', clientId: 'demo-us-client', clientSecret: 'demo-us-secret' },
  { region: 'eu', clientId: 'demo-eu-client', clientSecret: 'demo-eu-secret' },
  { region: 'de', clientId: 'demo-de-client', clientSecret: 'demo-de-secret' },
  { region: 'uk', clientId: 'demo-uk-client', clientSecret: 'demo-uk-secret' },
  { region: 'sg', clientId: 'demo-sg-client', clientSecret: 'demo-sg-secret' },
  { region: 'ap', clientId: 'demo-ap-client', clientSecret: 'demo-ap-secret' },
  { region: 'jp', clientId: 'demo-jp-client', clientSecret: 'demo-jp-secret' }
]
