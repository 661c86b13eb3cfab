import { tenantOf } from './caller.js'
import { countOwnerChange } from './content-store.js'
import { paginate, readPaging } from './cursor-paging.js'
import { E, qlikError } from './envelope.js'
import { iso, missing, newOwnerOf, ownerIdParam, pageRequest } from './owned-content.js'
import { bearerRoute } from './route.js'
import type { DataFile } from './content-types.js'
import type { SimulatorCore } from './core.js'
import type { SimResponse } from './http-utils.js'
import type { RouteContext, RouteDef } from './route.js'
import type { TenantRecord } from './tenant-store.js'

// Data files (docs/reference/qlik-cloud-api.md §7): listed by owner, paged
// with a `page` cursor, moved with change-owner (204), deleted (204).

const view = (file: DataFile): unknown => ({ ...file, appsUsedBy: [] })

function list (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const record = tenantOf(core, ctx)
  if (record === undefined) return qlikError(404, E.notFound)
  const request = pageRequest(ctx, { next: 'page', prev: 'page' }, 20)
  const paging = readPaging(request)
  if (!paging.ok) return paging.response
  const ownerId = ownerIdParam(ctx)
  const files = [...record.content.dataFiles.values()].filter((f) => ownerId === undefined || f.ownerId === ownerId)
  const page = paginate(files, request, paging)
  if (!page.ok) return page.response
  return { status: 200, body: { data: page.page.data.map(view), links: page.page.links } }
}

function fileOf (core: SimulatorCore, ctx: RouteContext): { record: TenantRecord, file: DataFile } | { response: SimResponse } {
  const record = tenantOf(core, ctx)
  if (record === undefined) return { response: qlikError(404, E.notFound) }
  const id = ctx.params.id ?? ''
  const file = record.content.dataFiles.get(id)
  return file === undefined ? { response: missing('data file', id) } : { record, file }
}

function get (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = fileOf(core, ctx)
  return 'response' in found ? found.response : { status: 200, body: view(found.file) }
}

function changeOwner (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = fileOf(core, ctx)
  if ('response' in found) return found.response
  const owner = newOwnerOf(found.record, ctx.body, 'ownerId')
  if (!owner.ok) return owner.response
  found.file.ownerId = owner.ownerId
  found.file.modifiedDate = iso(core.options.now())
  countOwnerChange(found.record.content, 'dataFiles', found.file.id)
  return { status: 204 }
}

function remove (core: SimulatorCore, ctx: RouteContext): SimResponse {
  const found = fileOf(core, ctx)
  if ('response' in found) return found.response
  found.record.content.dataFiles.delete(found.file.id)
  return { status: 204 }
}

export function dataFilesRoutes (core: SimulatorCore): RouteDef[] {
  const sites = 'tenant'
  return [
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/data-files', tier: 1, handle: (ctx) => list(core, ctx) }),
    bearerRoute({ sites, method: 'GET', pattern: '/api/v1/data-files/{id}', tier: 1, handle: (ctx) => get(core, ctx) }),
    bearerRoute({ sites, method: 'DELETE', pattern: '/api/v1/data-files/{id}', tier: 2, handle: (ctx) => remove(core, ctx) }),
    bearerRoute({ sites, method: 'POST', pattern: '/api/v1/data-files/{id}/actions/change-owner', tier: 2, handle: (ctx) => changeOwner(core, ctx) })
  ]
}
