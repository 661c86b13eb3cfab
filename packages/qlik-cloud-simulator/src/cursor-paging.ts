import { E, qlikError } from './envelope.js'
import type { SimResponse } from './http-utils.js'

/**
 * Opaque cursor paging, the style of Qlik's users, items, spaces, data-files
 * and automations listings (docs/reference/qlik-cloud-api.md §7, §11): a page
 * carries `links.next` / `links.prev` whose href holds a cursor; the caller
 * follows the href. A cursor names the item it continues from, so content
 * created or deleted elsewhere in the list does not shift the pages.
 */
export interface CursorParams {
  /** Query parameter that carries a forward cursor (`next`, `page`, `cursor`). */
  next: string
  /** Query parameter that carries a backward cursor; may be the same as `next`. */
  prev: string
}

export interface PageLinks {
  self: { href: string }
  next?: { href: string }
  prev?: { href: string }
}

export interface Page<T> {
  data: T[]
  links: PageLinks
}

type Cursor = { after: string } | { before: string }

const encode = (cursor: Cursor): string =>
  Buffer.from('after' in cursor ? `a:${cursor.after}` : `b:${cursor.before}`).toString('base64url')

function decode (raw: string): Cursor | undefined {
  const text = Buffer.from(raw, 'base64url').toString('utf8')
  const id = text.slice(2)
  if (id === '') return undefined
  if (text.startsWith('a:')) return { after: id }
  if (text.startsWith('b:')) return { before: id }
  return undefined
}

export interface PageRequest {
  /** The request's query string, without `?`. */
  query: string
  /** `https://{host}{path}` of the request, for the links. */
  base: string
  params: CursorParams
  defaultLimit: number
  maxLimit: number
}

/** Reads `limit` and the cursor; a bad one is Qlik's 400 naming the parameter. */
export function readPaging (request: PageRequest): { ok: true, limit: number, cursor: Cursor | undefined } | { ok: false, response: SimResponse } {
  const search = new URLSearchParams(request.query)
  const rawLimit = search.get('limit')
  const limit = rawLimit === null ? request.defaultLimit : Number(rawLimit)
  if (!Number.isInteger(limit) || limit < 1 || limit > request.maxLimit) {
    return { ok: false, response: qlikError(400, E.badRequest, `limit must be an integer from 1 to ${request.maxLimit}`) }
  }
  const names = [...new Set([request.params.next, request.params.prev])]
  const given = names.flatMap((name) => search.getAll(name).map((value) => ({ name, value })))
  if (given.length > 1) return { ok: false, response: qlikError(400, E.badRequest, `Send at most one of ${names.join(', ')}`) }
  const first = given[0]
  if (first === undefined) return { ok: true, limit, cursor: undefined }
  const cursor = decode(first.value)
  // A forward parameter carries forward cursors only (and backward likewise),
  // unless one parameter serves both ways.
  const wrongWay = cursor !== undefined && request.params.next !== request.params.prev &&
    (first.name === request.params.next ? 'before' in cursor : 'after' in cursor)
  if (cursor === undefined || wrongWay) return { ok: false, response: qlikError(400, E.badRequest, `${first.name} is not a valid cursor`) }
  return { ok: true, limit, cursor }
}

/** One page of `items` (already filtered, in listing order) with its links. */
export function paginate<T extends { id: string }> (
  items: readonly T[],
  request: PageRequest,
  paging: { limit: number, cursor: Cursor | undefined }
): { ok: true, page: Page<T> } | { ok: false, response: SimResponse } {
  const { limit, cursor } = paging
  let start = 0
  if (cursor !== undefined) {
    const anchorId = 'after' in cursor ? cursor.after : cursor.before
    const anchor = items.findIndex((item) => item.id === anchorId)
    if (anchor === -1) return { ok: false, response: qlikError(400, E.badRequest, 'The cursor names an item that no longer matches; start again without it') }
    start = 'after' in cursor ? anchor + 1 : Math.max(0, anchor - limit)
  }
  const end = cursor !== undefined && 'before' in cursor
    ? items.findIndex((item) => item.id === cursor.before)
    : Math.min(items.length, start + limit)
  const data = items.slice(start, end)
  const self = request.query === '' ? request.base : `${request.base}?${request.query}`
  const links: PageLinks = { self: { href: self } }
  const last = data.at(-1)
  const first = data[0]
  if (last !== undefined && end < items.length) links.next = { href: linkWith(request, request.params.next, encode({ after: last.id })) }
  if (first !== undefined && start > 0) links.prev = { href: linkWith(request, request.params.prev, encode({ before: first.id })) }
  return { ok: true, page: { data, links } }
}

function linkWith (request: PageRequest, name: string, cursor: string): string {
  const search = new URLSearchParams(request.query)
  search.delete(request.params.next)
  search.delete(request.params.prev)
  search.set(name, cursor)
  return `${request.base}?${search.toString()}`
}
