/**
 * The kinds of content a bot user can own, and the Qlik calls that find,
 * read, move and delete each (docs/reference/qlik-cloud-api.md §7).
 */
export const MOVABLE_KINDS = ['app', 'space', 'data-file', 'automation', 'automation-connection'] as const
export type ContentKind = typeof MOVABLE_KINDS[number]

export interface QlikCall {
  method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE'
  path: string
  body?: unknown
}

interface KindCalls {
  /** First page of the owner's items; later pages follow `links.next.href`. */
  list (ownerId: string): string
  /** The id and name of one listed entry. */
  entry (raw: Record<string, unknown>): { id: string, name: string } | undefined
  read (id: string): string
  /** The owner in the body of `read` (undefined: the item is gone or unreadable). */
  ownerOf (raw: Record<string, unknown>): string | undefined
  move (id: string, to: string): QlikCall
  remove (id: string): QlikCall
}

const text = (value: unknown): string | undefined => typeof value === 'string' && value !== '' ? value : undefined
const enc = encodeURIComponent
const byOwnerFilter = (ownerId: string): string => enc(`ownerId eq "${ownerId}"`)
const plain = (raw: Record<string, unknown>): { id: string, name: string } | undefined => {
  const id = text(raw.id)
  return id === undefined ? undefined : { id, name: text(raw.name) ?? '' }
}

const automationLike = (base: string): KindCalls => ({
  // Tenant admins see other users' automations only with listAll=true (§7).
  list: (ownerId) => `${base}?filter=${byOwnerFilter(ownerId)}&listAll=true&limit=100`,
  entry: plain,
  read: (id) => `${base}/${enc(id)}`,
  ownerOf: (raw) => text(raw.ownerId),
  move: (id, to) => ({ method: 'POST', path: `${base}/${enc(id)}/actions/change-owner`, body: { userId: to } }),
  remove: (id) => ({ method: 'DELETE', path: `${base}/${enc(id)}` })
})

export const CONTENT_CALLS: Record<ContentKind, KindCalls> = {
  app: {
    // Apps are found as catalogue items of resourceType app; the app id is the item's resourceId (§7).
    list: (ownerId) => `/api/v1/items?ownerId=${enc(ownerId)}&resourceType=app&limit=100`,
    entry: (raw) => {
      const id = text(raw.resourceId)
      return id === undefined ? undefined : { id, name: text(raw.name) ?? '' }
    },
    read: (id) => `/api/v1/apps/${enc(id)}`,
    ownerOf: (raw) => text((raw.attributes as Record<string, unknown> | undefined)?.ownerId),
    move: (id, to) => ({ method: 'PUT', path: `/api/v1/apps/${enc(id)}/owner`, body: { ownerId: to } }),
    remove: (id) => ({ method: 'DELETE', path: `/api/v1/apps/${enc(id)}` })
  },
  space: {
    list: (ownerId) => `/api/v1/spaces?ownerId=${enc(ownerId)}&limit=100`,
    entry: plain,
    read: (id) => `/api/v1/spaces/${enc(id)}`,
    ownerOf: (raw) => text(raw.ownerId),
    move: (id, to) => ({ method: 'PATCH', path: `/api/v1/spaces/${enc(id)}`, body: [{ op: 'replace', path: '/ownerId', value: to }] }),
    remove: (id) => ({ method: 'DELETE', path: `/api/v1/spaces/${enc(id)}` })
  },
  'data-file': {
    list: (ownerId) => `/api/v1/data-files?ownerId=${enc(ownerId)}&limit=100`,
    entry: plain,
    read: (id) => `/api/v1/data-files/${enc(id)}`,
    ownerOf: (raw) => text(raw.ownerId),
    move: (id, to) => ({ method: 'POST', path: `/api/v1/data-files/${enc(id)}/actions/change-owner`, body: { ownerId: to } }),
    remove: (id) => ({ method: 'DELETE', path: `/api/v1/data-files/${enc(id)}` })
  },
  automation: automationLike('/api/v1/automations'),
  'automation-connection': automationLike('/api/v1/automation-connections')
}

/**
 * Automations before their connections: moving an automation detaches the
 * connections its new owner does not own (§7 "move those too"), so those are
 * moved after it.
 */
export const KIND_ORDER: readonly ContentKind[] = ['space', 'app', 'data-file', 'automation', 'automation-connection']

/**
 * App objects (sheets, stories…) cannot be listed through REST and only their
 * current owner may change their owner (§7, changelog 38): a migration reports
 * them and never claims to have moved them.
 */
export const APP_OBJECTS_NOTE = 'app objects (sheets, stories, bookmarks) of the old bot user cannot be listed or moved through REST (docs/reference/qlik-cloud-api.md §7): only their owner may change their owner. Reassign them in the Qlik console, or delete them with their app.'
