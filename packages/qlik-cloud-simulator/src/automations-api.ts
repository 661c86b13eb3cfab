import { callerUser, tenantOf } from './caller.js'
import { countOwnerChange, deleteAutomationConnection } from './content-store.js'
import { paginate, readPaging } from './cursor-paging.js'
import { E, qlikError } from './envelope.js'
import { iso, missing, newOwnerOf, pageRequest } from './owned-content.js'
import { bearerRoute } from './route.js'
import { compileFilter, FilterError } from './scim-filter.js'
import type { Automation, AutomationConnection } from './content-types.js'
import type { TenantContent } from './content-store.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import type { RouteContext, RouteDef } from './route.js'
import type { TenantRecord } from './tenant-store.js'
import type { TokenRecord } from './tokens.js'

// Automations and automation connections (docs/reference/qlik-cloud-api.md §7):
// found with `filter=ownerId eq "…"` and, for other users' ones, `listAll=true`;
// paged with a `cursor`; moved with change-owner `{ userId }` (204); deleted (204).

type Owned = Automation | AutomationConnection

interface Resource<T extends Owned> {
  kind: 'automations' | 'automationConnections'
  what: string
  basePath: string
  items (content: TenantContent): Map<string, T>
  /** Runs after the owner changed. */
  afterOwnerChange? (content: TenantContent, item: T): void
  remove (content: TenantContent, id: string): void
}

const FILTERABLE = ['id', 'name', 'ownerId'] as const

/**
 * An automation runs with its owner's connections: after a change of owner,
 * the connections the new owner does not own are detached (reference §7: "move
 * those too"). Which ones detach is our reading of that sentence.
 */
function detachForeignConnections (content: TenantContent, automation: Automation): void {
  automation.connectionIds = automation.connectionIds.filter((id) => content.automationConnections.get(id)?.ownerId === automation.ownerId)
}

const automations: Resource<Automation> = {
  kind: 'automations',
  what: 'automation',
  basePath: '/api/v1/automations',
  items: (content) => content.automations,
  afterOwnerChange: detachForeignConnections,
  remove: (content, id) => { content.automations.delete(id) }
}

const connections: Resource<AutomationConnection> = {
  kind: 'automationConnections',
  what: 'automation connection',
  basePath: '/api/v1/automation-connections',
  items: (content) => content.automationConnections,
  remove: deleteAutomationConnection
}

function list<T extends Owned> (resource: Resource<T>, core: SimulatorCore, ctx: RouteContext, caller: TokenRecord): SimResponse {
  const record = tenantOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const request = pageRequest(ctx, { next: 'cursor', prev: 'cursor' }, 20)
  const paging = readPaging(request)
  if (!paging.ok) return paging.response
  const params = new URLSearchParams(ctx.query)
  const listAll = params.get('listAll')
  if (listAll !== null && listAll !== 'true' && listAll !== 'false') return qlikError(400, E.badRequest, 'listAll must be true or false')
  let items = [...resource.items(record.content).values()]
  // Without listAll a user sees only their own (a tenant admin may ask for all).
  if (listAll !== 'true') {
    const me = callerUser(core, record, caller).id
    items = items.filter((item) => item.ownerId === me)
  }
  const filter = params.get('filter')
  if (filter !== null) {
    try {
      items = items.filter(compileFilter<Owned>(filter, FILTERABLE))
    } catch (err) {
      if (err instanceof FilterError) return qlikError(400, E.badRequest, `Invalid filter: ${err.message}`)
      throw err
    }
  }
  const page = paginate(items, request, paging)
  return page.ok ? { status: 200, body: page.page } : page.response
}

function itemOf<T extends Owned> (resource: Resource<T>, core: SimulatorCore, ctx: RouteContext): { record: TenantRecord, item: T } | { response: SimResponse } {
  const record = tenantOf(core, ctx)
  if (record === undefined) return { response: qlikError(404, E.notFound) }
  const id = ctx.params.id ?? ''
  const item = resource.items(record.content).get(id)
  return item === undefined ? { response: missing(resource.what, id) } : { record, item }
}

function changeOwner<T extends Owned> (resource: Resource<T>, core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = itemOf(resource, core, ctx)
  if ('response' in found) return found.response
  const owner = newOwnerOf(found.record, ctx.body, 'userId')
  if (!owner.ok) return owner.response
  found.item.ownerId = owner.ownerId
  found.item.updatedAt = iso(core.options.now())
  resource.afterOwnerChange?.(found.record.content, found.item)
  countOwnerChange(found.record.content, resource.kind, found.item.id)
  return { status: 204 }
}

function routesOf<T extends Owned> (resource: Resource<T>, core: SimulatorCore): RouteDef[] {
  const sites = 'tenant'
  const base = resource.basePath
  return [
    bearerRoute({ sites, method: 'GET', pattern: base, tier: 1, handle: (ctx, caller) => list(resource, core, ctx, caller) }),
    bearerRoute({
      sites,
      method: 'GET',
      pattern: `${base}/{id}`,
      tier: 1,
      handle: (ctx) => {
        const found = itemOf(resource, core, ctx)
        return 'response' in found ? found.response : { status: 200, body: found.item }
      }
    }),
    bearerRoute({
      sites,
      method: 'DELETE',
      pattern: `${base}/{id}`,
      tier: 2,
      handle: (ctx) => {
        const found = itemOf(resource, core, ctx)
        if ('response' in found) return found.response
        resource.remove(found.record.content, found.item.id)
        return { status: 204 }
      }
    }),
    bearerRoute({ sites, method: 'POST', pattern: `${base}/{id}/actions/change-owner`, tier: 2, handle: (ctx) => changeOwner(resource, core, ctx) })
  ]
}

export function automationsRoutes (core: SimulatorCore): RouteDef[] {
  return [...routesOf(automations, core), ...routesOf(connections, core)]
}
