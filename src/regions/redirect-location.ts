import { checkUpstreamPath } from './upstream-path.js'

export interface RedirectContext {
  /** The Qlik host the request went to; only a redirect to this host is passed on. */
  upstreamHost: string
  /** The broker route that stands for that host's `/api/v1`, e.g. `/regions/eu/tenants/acme.eu.qlikcloud.com`. */
  brokerPrefix: string
  /** How the caller reached the broker, e.g. `https://broker.internal`: used when Qlik's Location is absolute. */
  brokerOrigin: string
}

/**
 * Qlik's `Location` rewritten into the broker's own route, as a reverse
 * proxy does (Qlik answers `/users/me` and `/tenants/me` with redirects,
 * docs/reference/qlik-cloud-api.md §3.4, §11): a relative Location stays
 * relative, an absolute one gets the broker's origin. Undefined when the
 * Location points anywhere else (another host, a port, credentials, a path
 * outside `/api/v1`): that must never reach the caller.
 */
export function rewriteLocation (location: string, context: RedirectContext): string | undefined {
  const relative = location.startsWith('/') && !location.startsWith('//')
  let url: URL
  try {
    url = new URL(location, `https://${context.upstreamHost}`)
  } catch {
    return undefined
  }
  const sameHost = url.protocol === 'https:' && url.port === '' && url.username === '' && url.password === '' &&
    url.hostname.toLowerCase().replace(/\.$/, '') === context.upstreamHost
  if (!sameHost) return undefined
  // The path as Qlik wrote it, before URL parsing resolves `..` or `%2e%2e`: it must need no resolving.
  const rawPath = (relative ? location : location.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '')).split(/[?#]/)[0] ?? ''
  try {
    checkUpstreamPath(rawPath)
  } catch {
    return undefined
  }
  if (rawPath !== url.pathname) return undefined
  const target = `${context.brokerPrefix}${url.pathname}${url.search}`
  return relative ? target : `${context.brokerOrigin}${target}`
}
