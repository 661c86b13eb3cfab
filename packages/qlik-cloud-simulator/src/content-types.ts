import type { UserStatus } from './types.js'

/**
 * Content with owners on a tenant (docs/reference/qlik-cloud-api.md §7): what
 * a bot-user migration finds by owner and moves with the change-owner calls.
 */
export interface App {
  id: string
  name: string
  ownerId: string
  spaceId: string
  /** Id of the app's catalogue item (`GET /api/v1/items`). */
  itemId: string
  createdDate: string
  modifiedDate: string
}

export interface AppObject {
  id: string
  appId: string
  name: string
  objectType: 'sheet' | 'story' | 'bookmark'
  ownerId: string
  published: boolean
  createdAt: string
  updatedAt: string
}

export interface DataFile {
  id: string
  name: string
  ownerId: string
  spaceId: string
  size: number
  createdDate: string
  modifiedDate: string
}

export interface Automation {
  id: string
  name: string
  ownerId: string
  state: 'available' | 'disabled'
  /** Automation connections it uses; a change of owner detaches the ones the new owner does not own. */
  connectionIds: string[]
  createdAt: string
  updatedAt: string
}

export interface AutomationConnection {
  id: string
  name: string
  ownerId: string
  connectorId: string
  createdAt: string
  updatedAt: string
}

/** Kinds of owned content, as named in the control API and the counters. */
export type ContentKind = 'apps' | 'appObjects' | 'spaces' | 'dataFiles' | 'automations' | 'automationConnections'

export const CONTENT_KINDS: readonly ContentKind[] = ['apps', 'appObjects', 'spaces', 'dataFiles', 'automations', 'automationConnections']

/** One item as the control API reads it back: who owns it and how often its owner was changed. */
export interface OwnedItemState {
  id: string
  name: string
  ownerId: string
  /** Successful change-owner calls on this item since it was created. */
  ownerChanges: number
  /** App objects: their app. */
  appId?: string
  /** Automations: the connections still attached. */
  connectionIds?: string[]
}

export type TenantContentState = Record<ContentKind, OwnedItemState[]>

/** What `POST /__sim/tenants/{tenantId}/content` seeds, all owned by `ownerId`. */
export interface SeedContentInput {
  ownerId: string
  apps?: number
  /** Objects (sheets) per seeded app. */
  appObjectsPerApp?: number
  spaces?: number
  dataFiles?: number
  automations?: number
  /** Seeded automations use these connections, in turn. */
  automationConnections?: number
}

/** Ids of what was seeded, per kind. */
export type SeededContent = Record<ContentKind, string[]>

export interface SeedUserInput {
  /** Default `qlikbot\{clientId}` when clientId is given. */
  subject?: string
  name?: string
  /** Makes the user the bot user of that OAuth client on this tenant (e.g. a deleted client's). */
  clientId?: string
  status?: UserStatus
}
