import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { ConfigError } from './config-error.js'
import { ConfigSchema, crossFieldProblems, type ParsedConfig, type RegionEntry } from './schema.js'
import { ENV_SETTINGS } from './settings.js'

export interface RegionConfig {
  code: string
  registerHost: string
  /** Tenant hosts of this region end in `.${tenantDomain}`. */
  tenantDomain: string
  /** Vault KV v2 path, or the file's base name for the file source. */
  secretPath: string
  /** Where requests for this region's hosts are actually sent; unset: the host itself over HTTPS. */
  upstreamOrigin: string | undefined
}

export type Config = Readonly<Omit<ParsedConfig, 'regions'> & { regions: readonly RegionConfig[] }>

const FILE_KEYS = z.strictObject({
  regions: z.unknown().optional(),
  callers: z.unknown().optional(),
  issuers: z.unknown().optional()
})

const ENV_BY_KEY = new Map(ENV_SETTINGS.map((setting) => [setting.key, setting.env]))

/**
 * Builds the configuration from environment variables plus the optional
 * config file, or throws one ConfigError listing every problem.
 * Pure apart from reading the config file: tests pass their own `env`.
 */
export function loadConfig (env: Readonly<Record<string, string | undefined>>, overrides: { regions?: unknown, callers?: unknown, issuers?: unknown } = {}): Config {
  const raw: Record<string, unknown> = {}
  for (const setting of ENV_SETTINGS) {
    const value = env[setting.env]
    if (value !== undefined && value !== '') setPath(raw, setting.key, value)
  }
  const problems: string[] = []
  const configFile = env.BROKER_CONFIG_FILE
  if (configFile !== undefined && configFile !== '') {
    const fromFile = readConfigFile(configFile, problems)
    if (fromFile !== undefined) Object.assign(raw, fromFile)
  }
  if (overrides.regions !== undefined) raw.regions = overrides.regions
  if (overrides.callers !== undefined) raw.callers = overrides.callers
  if (overrides.issuers !== undefined) raw.issuers = overrides.issuers

  const parsed = ConfigSchema.safeParse(raw)
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(describeIssue(issue, configFile))
  }
  for (const issue of crossFieldProblems(parsed.success ? parsed.data : raw)) problems.push(describeIssue(issue, configFile))
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems)
  return deepFreeze({ ...parsed.data, regions: resolveRegions(parsed.data) })
}

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

function readConfigFile (path: string, problems: string[]): Record<string, unknown> | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    problems.push(`BROKER_CONFIG_FILE: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
    return undefined
  }
  let content: unknown
  try {
    content = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text)
  } catch (error) {
    problems.push(`BROKER_CONFIG_FILE: ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0] ?? ''}`)
    return undefined
  }
  if (content === null || content === undefined) return {}
  const shape = FILE_KEYS.safeParse(content)
  if (!shape.success) {
    for (const issue of shape.error.issues) problems.push(`${path}: ${issue.path.join('.') || '(top level)'}: ${issue.message} (allowed top-level keys: regions, callers, issuers)`)
    return undefined
  }
  const result: Record<string, unknown> = {}
  if (shape.data.regions !== undefined) result.regions = shape.data.regions
  if (shape.data.callers !== undefined) result.callers = shape.data.callers
  if (shape.data.issuers !== undefined) result.issuers = shape.data.issuers
  return result
}

function describeIssue (issue: { path: PropertyKey[], message: string }, configFile: string | undefined): string {
  const dotted = issue.path.map(String).join('.')
  for (let length = issue.path.length; length > 0; length--) {
    const env = ENV_BY_KEY.get(issue.path.slice(0, length).map(String).join('.'))
    if (env !== undefined) return `${env} (${dotted}): ${issue.message}`
  }
  const inFile = issue.path[0] === 'regions' || issue.path[0] === 'callers' || issue.path[0] === 'issuers'
  return `${inFile && configFile !== undefined ? `${configFile}: ` : ''}${dotted || '(config)'}: ${issue.message}`
}

function setPath (target: Record<string, unknown>, dotted: string, value: string): void {
  const keys = dotted.split('.')
  let node = target
  keys.slice(0, -1).forEach((key) => {
    node[key] ??= {}
    node = node[key] as Record<string, unknown>
  })
  node[keys[keys.length - 1] as string] = value
}

function resolveRegions (config: ParsedConfig): RegionConfig[] {
  const entries: RegionEntry[] = config.regions ?? config.qlik.regions.map((code) => ({ code }))
  return entries.map((entry) => ({
    code: entry.code,
    registerHost: entry.registerHost ?? `register.${entry.code}.${config.qlik.domain}`,
    tenantDomain: entry.tenantDomain ?? `${entry.code}.${config.qlik.domain}`,
    secretPath: entry.secretPath ?? (config.secrets.source === 'vault' ? config.secrets.vault.pathTemplate.replaceAll('{region}', entry.code) : entry.code),
    upstreamOrigin: entry.upstreamOrigin ?? config.qlik.upstreamOrigin
  }))
}
