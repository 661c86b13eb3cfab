import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const ROOT = new URL('../..', import.meta.url).pathname
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

let compiling: Promise<string> | undefined

/**
 * The broker's `src/` compiled once per test process, into a folder of its
 * own under node_modules/.cache (so its imports resolve to this checkout's
 * node_modules, and no other process or later run ever reads it): the
 * broker processes the tests start then run plain `node`, as the image
 * does, instead of loading the TypeScript loader and compiling again in
 * every process (about a second of CPU each, dozens of processes per run).
 * `--noCheck` emits the same JavaScript (isolatedModules); the types are
 * checked by `npm run typecheck`.
 */
export async function compiledBrokerDir (): Promise<string> {
  compiling ??= (async () => {
    const parent = join(ROOT, 'node_modules', '.cache', 'qlik-broker-test')
    mkdirSync(parent, { recursive: true })
    removeLeftovers(parent)
    const outDir = mkdtempSync(join(parent, `dist-${process.pid}-`))
    process.once('exit', () => { rmSync(outDir, { recursive: true, force: true }) })
    await promisify(execFile)(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.json'), '--noCheck', '--outDir', outDir], { cwd: ROOT })
    return outDir
  })()
  return await compiling
}

/** Folders of test processes that were killed before they could remove their own. */
function removeLeftovers (parent: string): void {
  for (const name of readdirSync(parent)) {
    const pid = Number(/^dist-(\d+)-/.exec(name)?.[1])
    if (Number.isInteger(pid) && pid !== process.pid && !isRunning(pid)) rmSync(join(parent, name), { recursive: true, force: true })
  }
}

function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
