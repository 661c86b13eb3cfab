import { readFile } from 'node:fs/promises'
import { VaultLoginError } from './vault-errors.js'

/**
 * Reads a credential that Vault auth needs from a file (a Vault Agent token
 * sink, an AppRole secret_id file, a projected service account token),
 * trimmed. Errors name the file, never its content.
 */
export async function readCredentialFile (path: string, what: string): Promise<string> {
  let content: string
  try {
    content = (await readFile(path, 'utf8')).trim()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error'
    throw new VaultLoginError(`cannot read ${what} at ${path} (${code})`)
  }
  if (content === '') throw new VaultLoginError(`${what} at ${path} is empty`)
  return content
}

export interface CredentialFileWatchOptions {
  path: string
  /** Names the file in errors, e.g. `the Vault token file`. */
  what: string
  intervalMs: number
  /** The content differs from what was last seen; the handler reads the file itself. */
  onChange: () => void
  /** The file cannot be read (or is empty); reported once until it is readable again. */
  onProblem: (reason: string) => void
}

export interface CredentialFileWatch {
  /** Checks the file now, as the interval does; joins a check already running. */
  check (): Promise<void>
  /** The owner read the file itself: this content is current, not a change. */
  seen (content: string): void
  stop (): void
}

/**
 * Notices a credential file being rewritten by polling its content. Polling
 * rather than `fs.watch`: Vault Agent renames a temporary file over its sink
 * and the kubelet swaps a symlinked directory, which replace the inode an
 * `fs.watch` on the file follows, and inotify does not work on every volume
 * type. Reading a few bytes every few seconds follows all of them. A file
 * that is briefly missing or empty (a writer that truncates first) is not a
 * change: the content in use stays until a new one can be read.
 */
export function watchCredentialFile (options: CredentialFileWatchOptions): CredentialFileWatch {
  let lastSeen: string | undefined
  let problem: string | undefined
  let running: Promise<void> | undefined

  function check (): Promise<void> {
    running ??= poll().finally(() => { running = undefined })
    return running
  }

  async function poll (): Promise<void> {
    try {
      const content = await readCredentialFile(options.path, options.what)
      problem = undefined
      if (lastSeen === undefined) {
        lastSeen = content
        return
      }
      if (content === lastSeen) return
      lastSeen = content
      options.onChange()
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      if (reason !== problem) options.onProblem(reason)
      problem = reason
    }
  }

  // setInterval (not a chain of setTimeout) so tests can drive it with t.mock.timers.
  const timer = setInterval(() => { check().catch(() => undefined) }, options.intervalMs)
  timer.unref()

  return {
    check,
    seen (content) {
      lastSeen = content
      problem = undefined
    },
    stop () {
      clearInterval(timer)
    }
  }
}
