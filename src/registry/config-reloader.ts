import { createHash } from 'node:crypto'
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import { ConfigError } from '../config/config-error.js'
import { loadConfig, type Config } from '../config/load-config.js'
import type { CallerConfig } from '../config/schema.js'
import type { Logger } from '../observability/logger.js'
import type { CallerDirectory } from './caller-directory.js'

/**
 * The callers of the config file, validated exactly as at start-up (same
 * schema, same cross-field rules) against the regions the broker runs with.
 * Throws the ConfigError listing every problem.
 */
export function readCallers (config: Config): { callers: readonly CallerConfig[], regionCodes: string[] } {
  const fresh = loadConfig({ BROKER_CONFIG_FILE: config.configFile, QLIK_REGIONS: config.qlik.regions.join(','), QLIK_DOMAIN: config.qlik.domain })
  return { callers: fresh.callers, regionCodes: fresh.regions.map((region) => region.code) }
}

export interface ConfigReloaderOptions {
  config: Config
  directory: CallerDirectory
  logger: Logger
  /** Fallback check of the file's modification time, size and inode. */
  intervalMs: number
  /** Editors and `kubectl` write in several steps: wait for them to settle. */
  debounceMs?: number
  read?: (config: Config) => { callers: readonly CallerConfig[], regionCodes: string[] }
}

export interface ConfigReloader {
  /** Checks the file now: a changed file is applied or refused before this returns. */
  check (): void
  stop (): void
}

/**
 * Reloads the callers (keys, grants) when the config file changes. It
 * watches the file's directory, not the file: a Kubernetes ConfigMap update
 * swaps a `..data` symlink and an atomic save renames a new file over the
 * old, and either leaves a watch on the old inode deaf. The periodic stat
 * catches what watching misses (network file systems). Content that does
 * not validate is refused with every problem logged, and the policy in
 * force stays; the same broken content is reported once, not at every tick.
 */
export function startConfigReloader (options: ConfigReloaderOptions): ConfigReloader {
  const { config, directory, logger } = options
  const path = config.configFile
  if (path === undefined) return { check () {}, stop () {} }
  const read = options.read ?? readCallers
  const debounceMs = options.debounceMs ?? 200
  const runningRegions = config.regions.map((region) => region.code).join(',')
  const digest = (text: string): string => createHash('sha256').update(text).digest('hex')
  const stamp = (): string => {
    try {
      const stat = statSync(path)
      return `${stat.mtimeMs}:${stat.size}:${stat.ino}`
    } catch {
      return 'missing'
    }
  }

  let applied = (() => { try { return digest(readFileSync(path, 'utf8')) } catch { return '' } })()
  let refused = ''
  let lastStamp = stamp()
  let timer: NodeJS.Timeout | undefined

  function check (): void {
    lastStamp = stamp()
    let text: string
    try {
      text = readFileSync(path as string, 'utf8')
    } catch (error) {
      // Mid-swap, or removed: keep the policy in force; the next event or tick tries again.
      if (refused !== 'unreadable') logger.error({ configFile: path, err: (error as NodeJS.ErrnoException).code ?? 'error' }, 'config file cannot be read; the callers in force stay')
      refused = 'unreadable'
      return
    }
    const content = digest(text)
    if (content === applied || content === refused) return
    try {
      const { callers, regionCodes } = read(config)
      const set = directory.replace(callers)
      applied = content
      refused = ''
      logger.info({ configFile: path, policyVersion: set.version, callers: callers.map((caller) => caller.name) }, 'config file reloaded: callers, keys and grants updated')
      if (regionCodes.join(',') !== runningRegions) logger.warn({ configFile: path, running: runningRegions, inFile: regionCodes.join(',') }, 'the config file lists other regions than the broker runs with; regions change at the next restart only')
    } catch (error) {
      refused = content
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message]
      logger.error({ configFile: path, problems, policyVersion: directory.current().version }, `config file refused, the callers in force stay: ${problems.join('; ')}`)
    }
  }

  function schedule (): void {
    clearTimeout(timer)
    timer = setTimeout(check, debounceMs)
    timer.unref()
  }

  let watcher: FSWatcher | undefined
  try {
    const file = basename(path)
    watcher = watch(dirname(path), { persistent: false }, (_event, name) => {
      // The file itself, or a ConfigMap's `..data` swap; other files in the folder are not ours.
      if (name === null || name === file || name.startsWith('..')) schedule()
    })
    watcher.on('error', (error) => { logger.warn({ configFile: path, err: error.message }, 'cannot watch the config file any more; checking it every interval instead') })
  } catch (error) {
    logger.warn({ configFile: path, err: (error as Error).message }, 'cannot watch the config file; checking it every interval instead')
  }
  const poll = setInterval(() => { if (stamp() !== lastStamp) schedule() }, options.intervalMs)
  poll.unref()

  return {
    check,
    stop () {
      clearTimeout(timer)
      clearInterval(poll)
      watcher?.close()
    }
  }
}
