import { callerUser, tenantOf } from './caller.js'
import { deleteApp, countOwnerChange } from './content-store.js'
import { paginate, readPaging } from './cursor-paging.js'
import { E, qlikError } from './envelope.js'
import { iso, missing, newOwnerOf, ownerIdParam, pageRequest } from './owned-content.js'
import { bearerRoute } from './route.js'
import type { App, AppObject } from './content-types.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import type { RouteContext, RouteDef } from './route.js'
import type { TenantRecord } from './tenant-store.js'
import type { TokenRecord } from './tokens.js'

// Apps, app objects and the items catalogue (docs/reference/qlik-cloud-api.md §7).

/** `NxApp`, the body of `GET /apps/{appId}` and of `PUT /apps/{appId}/owner`. */
function nxApp (app: App): unknown {
  return {
    attributes: {
      id: app.id,
      name: app.name,
      description: '',
      owner: app.ownerId,
      ownerId: app.ownerId,
      spaceId: app.spaceId,
      createdDate: app.createdDate,
      modifiedDate: app.modifiedDate,
      published: false,
      _resourcetype: 'app'
    },
    privileges: ['read', 'update', 'delete', 'change_owner', 'change_space', 'reload', 'exportappdata'],
    create: []
  }
}

/** `NxAppObject`, the body of a change-owner of an app object. */
function nxAppObject (object: AppObject): unknown {
  return { attributes: { ...object, approved: false, genericType: 'genericObject' } }
}

/**
 * A catalogue item. Items carry no owner of their own: ownership follows the
 * app (reference §7, an inference), so an item is rebuilt from its app.
 */
function itemOf (record: TenantRecord, host: string, app: App): unknown {
  return {
    id: app.itemId,
    name: app.name,
    resourceType: 'app',
    resourceId: app.id,
    ownerId: app.ownerId,
    creatorId: app.ownerId,
    spaceId: app.spaceId,
    tenantId: record.tenant.id,
    createdAt: app.createdDate,
    updatedAt: app.modifiedDate,
    links: { self: { href: `https://${host}/api/v1/items/${app.itemId}` } }
  }
}

function listItems (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const record = tenantOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const request = pageRequest(ctx, { next: 'next', prev: 'prev' }, 10)
  const paging = readPaging(request)
  if (!paging.ok) return paging.response
  const params = new URLSearchParams(ctx.query)
  const resourceType = params.get('resourceType')
  const ownerId = ownerIdParam(ctx)
  const apps = resourceType === null || resourceType.split(',').includes('app') ? [...record.content.apps.values()] : []
  const items = apps
    .filter((app) => ownerId === undefined || app.ownerId === ownerId)
    .map((app) => ({ id: app.itemId, app }))
  const page = paginate(items, request, paging)
  if (!page.ok) return page.response
  return { status: 200, body: { data: page.page.data.map(({ app }) => itemOf(record, ctx.host, app)), links: page.page.links } }
}

function appOf (core: SimulatorCore, ctx: RouteContext): { record: TenantRecord, app: App } | { response: SimResponse } {
  const record = tenantOf(core, ctx)
  if (record === undefined) return { response: qlikError(404, E.notFound) }
  const appId = ctx.params.appId ?? ''
  const app = record.content.apps.get(appId)
  return app === undefined ? { response: missing('app', appId) } : { record, app }
}

function getApp (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = appOf(core, ctx)
  return 'response' in found ? found.response : { status: 200, body: nxApp(found.app) }
}

function changeAppOwner (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = appOf(core, ctx)
  if ('response' in found) return found.response
  const owner = newOwnerOf(found.record, ctx.body, 'ownerId')
  if (!owner.ok) return owner.response
  found.app.ownerId = owner.ownerId
  found.app.modifiedDate = iso(core.options.now())
  countOwnerChange(found.record.content, 'apps', found.app.id)
  return { status: 200, body: nxApp(found.app) }
}

function removeApp (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = appOf(core, ctx)
  if ('response' in found) return found.response
  deleteApp(found.record.content, found.app.id)
  return { status: 200 }
}

/** Only the object's current owner may move it (reference §7, changelog 38). */
function changeObjectOwner (core: SimulatorCore, ctx: RouteContext, caller: TokenRecord): SimResponse {
  const found = appOf(core, ctx)
  if ('response' in found) return found.response
  const objectId = ctx.params.objectId ?? ''
  const object = found.record.content.appObjects.get(objectId)
  if (object === undefined || object.appId !== found.app.id) return missing('object in this app', objectId)
  const owner = newOwnerOf(found.record, ctx.body, 'ownerId')
  if (!owner.ok) return owner.response
  if (callerUser(core, found.record, caller).id !== object.ownerId) {
    return qlikError(403, E.forbidden, 'Only the owner of the object can change its owner')
  }
  object.ownerId = owner.ownerId
  object.updatedAt = iso(core.options.now())
  countOwnerChange(found.record.content, 'appObjects', object.id)
  return { status: 200, body: nxAppObject(object) }
}

export function appsRoutes (core: SimulatorCore): RouteDef[] {
  const sites = 'tenant'
  return [
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/items', tier: 1, handle: (ctx) => listItems(core, ctx) }),
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/apps/{appId}', tier: 1, handle: (ctx) => getApp(core, ctx) }),
    bearerRoute({ sites, method: 'DELETE', pattern: '/api/v1/apps/{appId}', tier: 2, handle: (ctx) => removeApp(core, ctx) }),
    bearerRoute({ sites, method: 'PUT', pattern: '/api/v1/apps/{appId}/owner', tier: 2, handle: (ctx) => changeAppOwner(core, ctx) }),
    bearerRoute({
      sites,
      method: 'POST',
      pattern: '/api/v1/apps/{appId}/objects/{objectId}/actions/change-owner',
      tier: 2,
      handle: (ctx, caller) => changeObjectOwner(core, ctx, caller)
    })
  ]
}
