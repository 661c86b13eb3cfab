import { CONTENT_CALLS, KIND_ORDER, type ContentKind, type QlikCall } from './owned-content.js'
import { listAll, type TenantCalls } from './tenant-calls.js'

export interface BotUser {
  id: string
  subject: string
  clientId: string | undefined
}

export interface OwnedItem {
  kind: ContentKind
  id: string
  name: string
  /** The inactive bot user that owns it. */
  from: string
  /** The active bot user (move) or nobody (delete). */
  to: string | undefined
  action: 'move' | 'delete'
  call: QlikCall
}

export interface TenantFindings {
  activeBotUser: BotUser
  inactiveBotUsers: BotUser[]
  items: OwnedItem[]
}

const BOT_PREFIX = 'qlikbot\\'

function botUserOf (raw: Record<string, unknown>): BotUser | undefined {
  const { id, subject, clientId } = raw
  if (typeof id !== 'string' || typeof subject !== 'string') return undefined
  return { id, subject, clientId: typeof clientId === 'string' ? clientId : undefined }
}

/** A SCIM string literal: backslash and quote escaped (docs/reference/qlik-cloud-api.md §7: `qlikbot\\…`). */
const literal = (value: string): string => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`

/**
 * The bot user behind the broker's token: `GET /api/v1/users/me`, a redirect
 * to that user on the same host (docs/reference/qlik-cloud-api.md §11), which
 * the gateway hands back rather than follows: it is followed here, once. Without
 * an answer either way, the user is found by the region's current client id (§7 users filter).
 */
export async function findActiveBotUser (calls: TenantCalls, currentClientId: string | undefined): Promise<BotUser> {
  let answer = await calls.call({ method: 'GET', path: '/api/v1/users/me' })
  if (answer.redirectPath !== undefined) answer = await calls.call({ method: 'GET', path: answer.redirectPath })
  let user = answer.status === 200 && typeof answer.json === 'object' && answer.json !== null ? botUserOf(answer.json as Record<string, unknown>) : undefined
  if (user === undefined && currentClientId !== undefined) {
    const users = await listAll(calls, `/api/v1/users?filter=${encodeURIComponent(`clientId eq ${literal(currentClientId)}`)}`)
    user = users.map(botUserOf).find((candidate) => candidate !== undefined)
  }
  if (user === undefined) throw new Error(`cannot read the active bot user on ${calls.host}: ${answer.error ?? `HTTP ${answer.status}`}`)
  return user
}

/**
 * Inactive bot users: every `qlikbot\…` user that is not the active one,
 * and any user whose clientId is one the region used before (client history).
 */
export async function findInactiveBotUsers (calls: TenantCalls, active: BotUser, previousClientIds: readonly string[]): Promise<BotUser[]> {
  const clauses = [`subject sw ${literal(BOT_PREFIX)}`, ...previousClientIds.map((id) => `clientId eq ${literal(id)}`)]
  const filter = encodeURIComponent(clauses.join(' or '))
  const users = await listAll(calls, `/api/v1/users?filter=${filter}&limit=100`)
  const found = new Map<string, BotUser>()
  for (const raw of users) {
    const user = botUserOf(raw)
    if (user === undefined || user.id === active.id) continue
    if (active.clientId !== undefined && user.clientId === active.clientId) continue
    found.set(user.id, user)
  }
  return [...found.values()]
}

/** What each inactive bot user owns, with the call that will move (or delete) each item. */
export async function findOwnedItems (calls: TenantCalls, owners: readonly BotUser[], active: BotUser, deleteKinds: ReadonlySet<ContentKind>): Promise<OwnedItem[]> {
  const items: OwnedItem[] = []
  for (const owner of owners) {
    for (const kind of KIND_ORDER) {
      const kindCalls = CONTENT_CALLS[kind]
      for (const raw of await listAll(calls, kindCalls.list(owner.id))) {
        const entry = kindCalls.entry(raw)
        if (entry === undefined) continue
        const remove = deleteKinds.has(kind)
        items.push({
          kind,
          id: entry.id,
          name: entry.name,
          from: owner.id,
          to: remove ? undefined : active.id,
          action: remove ? 'delete' : 'move',
          call: remove ? kindCalls.remove(entry.id) : kindCalls.move(entry.id, active.id)
        })
      }
    }
  }
  return items
}

export async function discoverTenant (calls: TenantCalls, clients: { current: string | undefined, previous: readonly string[] }, deleteKinds: ReadonlySet<ContentKind>): Promise<TenantFindings> {
  const activeBotUser = await findActiveBotUser(calls, clients.current)
  const inactiveBotUsers = await findInactiveBotUsers(calls, activeBotUser, clients.previous)
  const items = await findOwnedItems(calls, inactiveBotUsers, activeBotUser, deleteKinds)
  return { activeBotUser, inactiveBotUsers, items }
}
