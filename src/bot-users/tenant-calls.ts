import type { RegionConfig } from '../config/load-config.js'
import type { QlikGateway } from '../qlik/qlik-gateway.js'
import { readQlikErrors } from '../qlik/qlik-error-envelope.js'
import type { QlikCall } from './owned-content.js'

export interface QlikAnswer {
  status: number
  /** Parsed JSON body, or undefined (no body, or not JSON). */
  json: unknown
  /** Qlik's error code and title, for a job's report; never the whole upstream body. */
  error: string | undefined
  /** A redirect's target as a path on the same host; undefined for anything else (no redirect, or another host). */
  redirectPath: string | undefined
}

/** One tenant host's Qlik API as the migration uses it: JSON in, JSON out, through the shared gateway. */
export interface TenantCalls {
  readonly host: string
  call (call: QlikCall): Promise<QlikAnswer>
}

export function tenantCalls (gateway: QlikGateway, region: RegionConfig, host: string, requestId: string): TenantCalls {
  return {
    host,
    async call ({ method, path, body }) {
      const payload = body === undefined ? undefined : JSON.stringify(body)
      const response = await gateway.forward({
        region,
        host,
        method,
        path,
        headers: { accept: 'application/json', 'x-request-id': requestId, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
        body: payload,
        requestId
      })
      const raw = await response.body.text()
      let json: unknown
      try { json = raw === '' ? undefined : JSON.parse(raw) } catch { json = undefined }
      let error: string | undefined
      if (response.statusCode >= 400) {
        const { codes } = readQlikErrors(raw)
        const title = (json as { errors?: Array<{ title?: unknown }> } | undefined)?.errors?.[0]?.title
        error = `HTTP ${response.statusCode}${codes.length > 0 ? ` ${codes.join(',')}` : ''}${typeof title === 'string' ? `: ${title.slice(0, 200)}` : ''}`
      }
      const location = response.headers.location
      const redirectPath = response.statusCode >= 300 && response.statusCode < 400 && typeof location === 'string' ? sameHostPath(location, host) : undefined
      return { status: response.statusCode, json, error, redirectPath }
    }
  }
}

/**
 * Follows `links.next.href` on the same host (Qlik's cursor, page and
 * automation paging all give one, §7); at most `maxPages` pages.
 */
export async function listAll (calls: TenantCalls, firstPath: string, maxPages = 1000): Promise<Array<Record<string, unknown>>> {
  const found: Array<Record<string, unknown>> = []
  let path: string | undefined = firstPath
  for (let page = 0; path !== undefined && page < maxPages; page++) {
    const answer = await calls.call({ method: 'GET', path })
    if (answer.status !== 200) throw new QlikListingError(`listing ${path.split('?')[0] ?? ''} on ${calls.host} failed: ${answer.error ?? `HTTP ${answer.status}`}`)
    const body = answer.json as { data?: unknown, links?: { next?: { href?: unknown } } } | undefined
    if (Array.isArray(body?.data)) for (const entry of body.data) if (typeof entry === 'object' && entry !== null) found.push(entry as Record<string, unknown>)
    path = nextPath(body?.links?.next?.href, calls.host)
  }
  return found
}

function nextPath (href: unknown, host: string): string | undefined {
  if (typeof href !== 'string' || !URL.canParse(href)) return undefined
  const url = new URL(href)
  // A link to another host is never followed: the token is for this one.
  if (url.hostname !== host) return undefined
  return `${url.pathname}${url.search}`
}

/** A `Location` (absolute, or relative to the host) as a path, when it stays on `host`. */
function sameHostPath (location: string, host: string): string | undefined {
  const base = `https://${host}/`
  if (!URL.canParse(location, base)) return undefined
  const url = new URL(location, base)
  return url.hostname === host ? `${url.pathname}${url.search}` : undefined
}

export class QlikListingError extends Error {
  override readonly name = 'QlikListingError'
}
