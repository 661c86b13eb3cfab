import type { App, AppObject, Automation, AutomationConnection, ContentKind, DataFile } from './content-types.js'

/** A tenant's owned content except spaces, which live with the Spaces API (TenantRecord.spaces). */
export interface TenantContent {
  apps: Map<string, App>
  appObjects: Map<string, AppObject>
  dataFiles: Map<string, DataFile>
  automations: Map<string, Automation>
  automationConnections: Map<string, AutomationConnection>
  /** `kind:id` → successful change-owner calls, so a test can prove nothing moved twice. */
  ownerChanges: Map<string, number>
}

export function createTenantContent (): TenantContent {
  return {
    apps: new Map(),
    appObjects: new Map(),
    dataFiles: new Map(),
    automations: new Map(),
    automationConnections: new Map(),
    ownerChanges: new Map()
  }
}

export function countOwnerChange (content: TenantContent, kind: ContentKind, id: string): void {
  const key = `${kind}:${id}`
  content.ownerChanges.set(key, (content.ownerChanges.get(key) ?? 0) + 1)
}

export function ownerChangesOf (content: TenantContent, kind: ContentKind, id: string): number {
  return content.ownerChanges.get(`${kind}:${id}`) ?? 0
}

/** Deletes an app with its objects (they cannot outlive it). */
export function deleteApp (content: TenantContent, appId: string): void {
  content.apps.delete(appId)
  for (const [id, object] of content.appObjects) {
    if (object.appId === appId) content.appObjects.delete(id)
  }
}

/** Deletes a connection and detaches it from the automations that used it. */
export function deleteAutomationConnection (content: TenantContent, id: string): void {
  content.automationConnections.delete(id)
  for (const automation of content.automations.values()) {
    automation.connectionIds = automation.connectionIds.filter((c) => c !== id)
  }
}
