import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { stringify } from 'yaml'
import { createApiKey } from '../../src/auth/api-keys.js'
import type { HttpResult } from '../support/http.js'
import type { RedisServer } from '../support/redis-server.js'
import { CALLER_GRANTS, startStack, type Stack } from '../support/stack.js'
import type { QlikSimulatorOptions } from '@qlik-broker/qlik-cloud-simulator'

/** Callers beyond the stack's admin/reader/creator/nobody, for governance features. */
export const GOVERNANCE_GRANTS = {
  /** Creates in eu and manages only what it created. */
  selfservice: [{ regions: ['eu'], actions: ['tenants:create', 'tenants:read', 'tenants:update', 'tenants:deactivate', 'tenants:reactivate'], tenants: 'created', tenantApi: ['GET /api/v1/users/**'] }],
  /** Reads the whole audit trail. */
  auditor: [{ regions: '*', actions: ['audit:read'] }]
} as const

export type GovernanceCaller = keyof typeof CALLER_GRANTS | keyof typeof GOVERNANCE_GRANTS

export interface GovernanceStack extends Stack {
  keys: Record<GovernanceCaller, string>
  configFile: string
  /** The callers of the config file as written at start. */
  callers: Array<{ name: string, apiKeyHashes: string[], grants: unknown }>
  /** Replaces the config file the way a ConfigMap update does: a new file renamed over the old one. */
  writeConfig (content: string | { callers: unknown }): void
}

/**
 * The in-process stack (real HTTP, simulator, optional real Redis) with its
 * callers in a real config file (BROKER_CONFIG_FILE), so the file can be
 * changed under the running broker.
 */
export async function startGovernanceStack (t: TestContext, options: { redis?: RedisServer, env?: Record<string, string>, simulator?: QlikSimulatorOptions } = {}): Promise<GovernanceStack> {
  const dir = mkdtempSync(join(tmpdir(), 'qlik-broker-governance-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const configFile = join(dir, 'config.yaml')
  const extra = Object.fromEntries(Object.keys(GOVERNANCE_GRANTS).map((name) => [name, createApiKey()])) as Record<keyof typeof GOVERNANCE_GRANTS, { key: string, hash: string }>
  let callers: GovernanceStack['callers'] = []
  const writeConfig = (content: string | { callers: unknown }): void => {
    const temporary = join(dir, `.config-${Date.now()}-${Math.random()}.yaml`)
    writeFileSync(temporary, typeof content === 'string' ? content : stringify(content))
    renameSync(temporary, configFile)
  }
  const stack = await startStack(t, {
    ...(options.redis === undefined ? {} : { redis: options.redis }),
    ...(options.simulator === undefined ? {} : { simulator: options.simulator }),
    env: { BROKER_CONFIG_FILE: configFile, BROKER_CONFIG_CHECK_INTERVAL_SECONDS: '1', ...options.env },
    callers: (hashes) => {
      callers = [
        ...Object.entries(CALLER_GRANTS).map(([name, grants]) => ({ name, apiKeyHashes: [hashes[name as keyof typeof CALLER_GRANTS]], grants: grants as unknown })),
        ...Object.entries(GOVERNANCE_GRANTS).map(([name, grants]) => ({ name, apiKeyHashes: [extra[name as keyof typeof GOVERNANCE_GRANTS].hash], grants: grants as unknown }))
      ]
      writeConfig({ callers })
      return callers
    }
  })
  return {
    ...stack,
    keys: { ...stack.keys, ...Object.fromEntries(Object.entries(extra).map(([name, { key }]) => [name, key])) } as Record<GovernanceCaller, string>,
    configFile,
    callers,
    writeConfig
  }
}

export function assertProblem (result: HttpResult, status: number, code: string): { detail: string, code: string } {
  assert.equal(result.status, status, result.text)
  assert.match(String(result.headers['content-type']), /^application\/problem\+json/)
  const body = result.json<{ status: number, code: string, detail: string, errors: Array<{ code: string }> }>()
  assert.equal(body.code, code, result.text)
  assert.equal(body.errors[0]?.code, code)
  return body
}

/** Retries `probe` until it returns true or `timeoutMs` passes. */
export async function eventually (probe: () => Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await probe()) return
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
