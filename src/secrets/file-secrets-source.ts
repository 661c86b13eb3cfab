import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import type { Logger } from '../observability/logger.js'
import { seal } from './sealed.js'
import { SecretsUnavailableError, type RegionCredentials, type SecretsSource, type SecretsSourceStatus } from './secrets-source.js'

const EXTENSIONS = ['.json', '.yaml', '.yml'] as const

const SecretFileSchema = z.object({
  client_id: z.string().min(1, 'client_id is empty'),
  client_secret: z.string().min(1, 'client_secret is empty')
})

export interface FileSecretsSourceOptions {
  dir: string
  /** region → file base name inside `dir` (without extension). */
  regions: Readonly<Record<string, string>>
  logger: Logger
  /** How often files are checked for a new version; a Vault Agent re-renders them in place. */
  recheckIntervalMs?: number
}

interface Loaded {
  credentials: RegionCredentials
  fingerprint: string
}

/**
 * Reads one JSON or YAML file per region (`{"client_id","client_secret"}`,
 * what a Vault Agent template renders). Files are re-checked on an interval,
 * so a rewritten file is picked up without a restart.
 */
export function createFileSecretsSource (options: FileSecretsSourceOptions): SecretsSource {
  const loaded = new Map<string, Loaded>()
  const inFlight = new Map<string, Promise<RegionCredentials>>()
  let lastError: string | undefined
  let reachable = true

  async function locate (region: string): Promise<{ path: string, fingerprint: string }> {
    const base = options.regions[region]
    if (base === undefined) throw new SecretsUnavailableError(region, 'region is not configured')
    for (const extension of EXTENSIONS) {
      const path = join(options.dir, `${base}${extension}`)
      try {
        const info = await stat(path)
        return { path, fingerprint: `${info.mtimeMs}:${info.size}` }
      } catch {}
    }
    throw new SecretsUnavailableError(region, `no file ${base}.json or ${base}.yaml in ${options.dir}`)
  }

  async function read (region: string): Promise<RegionCredentials> {
    try {
      const { path, fingerprint } = await locate(region)
      const text = await readFile(path, 'utf8')
      let content: unknown
      try {
        content = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
      } catch {
        throw new SecretsUnavailableError(region, `${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}`)
      }
      const parsed = SecretFileSchema.safeParse(content)
      if (!parsed.success) {
        throw new SecretsUnavailableError(region, `${path}: ${parsed.error.issues.map((issue) => issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message).join('; ')}`)
      }
      const credentials: RegionCredentials = {
        region,
        clientId: parsed.data.client_id,
        clientSecret: seal(parsed.data.client_secret),
        // A digest identifies the version without revealing the secret.
        version: createHash('sha256').update(parsed.data.client_id).update('\0').update(parsed.data.client_secret).digest('hex').slice(0, 16)
      }
      const previous = loaded.get(region)
      if (previous !== undefined && previous.credentials.version !== credentials.version) {
        options.logger.info({ region, version: credentials.version }, 'regional client secret changed on disk')
      }
      loaded.set(region, { credentials, fingerprint })
      reachable = true
      lastError = undefined
      return credentials
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error)
      if (error instanceof SecretsUnavailableError) throw error
      throw new SecretsUnavailableError(region, 'secret file could not be read', { cause: error })
    }
  }

  function singleFlight (region: string): Promise<RegionCredentials> {
    const running = inFlight.get(region)
    if (running !== undefined) return running
    const reading = read(region).finally(() => inFlight.delete(region))
    inFlight.set(region, reading)
    return reading
  }

  async function recheck (): Promise<void> {
    for (const [region, entry] of loaded) {
      try {
        const { fingerprint } = await locate(region)
        if (fingerprint !== entry.fingerprint) await singleFlight(region)
        else {
          reachable = true
          lastError = undefined
        }
      } catch (error) {
        // The file vanished or broke: keep serving what was read, say so.
        reachable = false
        lastError = error instanceof Error ? error.message : String(error)
        options.logger.warn({ region, err: lastError }, 'secret file check failed; keeping the credentials already read')
      }
    }
  }

  const timer = setInterval(() => { recheck().catch(() => {}) }, options.recheckIntervalMs ?? 10_000)
  timer.unref()

  return {
    kind: 'file',
    async get (region) {
      return loaded.get(region)?.credentials ?? await singleFlight(region)
    },
    held (region) {
      return loaded.get(region)?.credentials
    },
    refresh: singleFlight,
    status (): SecretsSourceStatus {
      return {
        kind: 'file',
        reachable,
        loadedRegions: [...loaded.keys()],
        ...(lastError === undefined ? {} : { lastError })
      }
    },
    async close () {
      clearInterval(timer)
    }
  }
}
