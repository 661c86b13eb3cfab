import type { Logger } from '../observability/logger.js'
import type { SecretsSource } from './secrets-source.js'

export interface VersionedSecretsSource extends SecretsSource {
  /** The newest version in the backend, read without reading the secret itself. */
  currentVersion (region: string): Promise<string>
}

/**
 * Notices a secret written to the store (a rotation done right: new secret
 * in My Qlik, then in Vault) before Qlik rejects the old one, by comparing
 * versions on an interval, and reads the new one. One region failing to
 * answer never stops the others; the credentials held stay in use.
 */
export function watchSecretVersions (options: { source: VersionedSecretsSource, regions: readonly string[], intervalMs: number, logger: Logger }): () => void {
  const { source, logger } = options
  let running = false
  const check = async (): Promise<void> => {
    if (running) return
    running = true
    try {
      const loaded = new Set(source.status().loadedRegions)
      for (const region of options.regions.filter((code) => loaded.has(code))) {
        try {
          const [held, newest] = await Promise.all([source.get(region), source.currentVersion(region)])
          if (held.version === newest) continue
          const fresh = await source.refresh(region)
          logger.info({ region, from: held.version, to: fresh.version }, 'new regional client secret version picked up')
        } catch (error) {
          logger.warn({ region, err: (error as Error).message }, 'secret version check failed; keeping the credentials held')
        }
      }
    } finally {
      running = false
    }
  }
  const timer = setInterval(() => { check().catch(() => {}) }, options.intervalMs)
  timer.unref()
  return () => { clearInterval(timer) }
}
