import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '')

/**
 * Everything the bench compiles lives under node_modules/.cache: module
 * resolution from there walks up to the project's node_modules, nothing in
 * the work tree (dist/ included) is touched, and git ignores it.
 */
export const CACHE = join(ROOT, 'node_modules', '.cache', 'qlik-broker-bench')

export interface BuiltBroker {
  /** Folder holding server.js and simulator/main.js. */
  dist: string
  /** What was built: `working tree` or a commit. */
  label: string
  commit: string
  /** Files under src/ that differ from the commit (working tree builds only). */
  dirtyFiles: number
}

function git (args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim()
}

function ensureModuleScope (): void {
  mkdirSync(CACHE, { recursive: true })
  // Node stops looking for a package.json at a node_modules boundary: say ESM here.
  writeAtomically(join(CACHE, 'package.json'), JSON.stringify({ type: 'module', private: true }) + '\n')
  removeBuildsOfEndedRuns()
}

/** Replaces a file in one step, so a run starting a process from it never reads half of it. */
function writeAtomically (file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`
  writeFileSync(temporary, content)
  renameSync(temporary, file)
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Work-tree and overlay builds are per run (`…-<pid>`), so two runs at once
 * never delete each other's build; a run's build stays until a later run
 * finds its process gone (its profile's source maps point there).
 */
function removeBuildsOfEndedRuns (): void {
  for (const name of readdirSync(CACHE)) {
    const pid = Number(/-(\d+)$/.exec(name)?.[1])
    if (Number.isInteger(pid) && pid !== process.pid && (name.startsWith('worktree-') || name.startsWith('overlay-')) && !alive(pid)) {
      rmSync(join(CACHE, name), { recursive: true, force: true })
    }
  }
}

function tsc (project: string, outDir: string): void {
  const result = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, '--outDir', outDir], { cwd: ROOT, encoding: 'utf8' })
  if (result.status !== 0) {
    throw new Error(`the broker does not build (tsc -p ${project}):\n${(result.stdout + result.stderr).split('\n').slice(0, 30).join('\n')}\nRun with --ref HEAD (or another commit) to measure a version that builds.`)
  }
}

/**
 * Compiles the broker and the simulator with plain tsc, as `npm run build`
 * does (the simulator into `simulator/` of the broker's folder), into a private folder: the work tree's src/ (default) or the src/ of
 * a git commit (`ref`), so a half-edited work tree can still be compared
 * with a known commit. `overlays` (path under src/ → replacement file)
 * builds a copy of that src/ with some files swapped, e.g. an older design
 * of one module, to price it against the current one.
 */
export function buildBroker (ref?: string, overlays?: { name: string, files: Record<string, string> }): BuiltBroker {
  const built = buildBrokerAlone(ref, overlays)
  addSimulator(built.dist)
  return built
}

/**
 * The simulator is the bench's harness, not what it measures: a build of a
 * commit from before packages/qlik-cloud-simulator keeps the simulator it
 * compiled from its own src/simulator; any other build gets the work tree's
 * package, compiled into `simulator/` (it resolves zod and yaml from the
 * project's node_modules, as the broker does).
 */
function addSimulator (dist: string): void {
  if (existsSync(join(dist, 'simulator', 'main.js'))) return
  tsc(join(ROOT, 'packages', 'qlik-cloud-simulator', 'tsconfig.json'), join(dist, 'simulator'))
}

function buildBrokerAlone (ref?: string, overlays?: { name: string, files: Record<string, string> }): BuiltBroker {
  ensureModuleScope()
  let built: BuiltBroker
  let sourceDir: string
  if (ref === undefined) {
    const dirtyFiles = git(['status', '--porcelain', '--', 'src']).split('\n').filter((line) => line.trim() !== '').length
    built = { dist: join(CACHE, `worktree-${process.pid}`, 'dist'), label: 'working tree', commit: git(['rev-parse', '--short=12', 'HEAD']), dirtyFiles }
    sourceDir = ROOT
    if (overlays === undefined) {
      rmSync(built.dist, { recursive: true, force: true })
      tsc(join(ROOT, 'tsconfig.json'), built.dist)
      return built
    }
  } else {
    const commit = git(['rev-parse', '--short=12', `${ref}^{commit}`])
    const dir = join(CACHE, `ref-${commit}`)
    built = { dist: join(dir, 'dist'), label: `commit ${commit}`, commit, dirtyFiles: 0 }
    sourceDir = dir
    if (!existsSync(join(built.dist, 'server.js'))) {
      // Built aside and renamed into place: a commit's build is shared by later runs.
      const temporary = `${dir}.${process.pid}.tmp`
      rmSync(temporary, { recursive: true, force: true })
      mkdirSync(temporary, { recursive: true })
      const archive = execFileSync('git', ['archive', '--format=tar', commit, 'src', 'tsconfig.json'], { cwd: ROOT, maxBuffer: 256 * 1024 * 1024 })
      execFileSync('tar', ['-x', '-C', temporary], { input: archive })
      tsc(join(temporary, 'tsconfig.json'), join(temporary, 'dist'))
      rmSync(dir, { recursive: true, force: true })
      renameSync(temporary, dir)
    }
    if (overlays === undefined) return built
  }
  const dir = join(CACHE, `overlay-${overlays.name}-${process.pid}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  cpSync(join(sourceDir, 'src'), join(dir, 'src'), { recursive: true })
  cpSync(join(sourceDir, 'tsconfig.json'), join(dir, 'tsconfig.json'))
  for (const [path, file] of Object.entries(overlays.files)) cpSync(file, join(dir, 'src', path))
  tsc(join(dir, 'tsconfig.json'), join(dir, 'dist'))
  return { ...built, dist: join(dir, 'dist'), label: `${built.label} with ${Object.keys(overlays.files).join(', ')} replaced (${overlays.name})` }
}

/**
 * The bench's own processes (bare proxy, load worker) run as plain
 * JavaScript too, so no loader sits in any measured process. They import
 * packages and node: modules only.
 */
export function transpileBenchFile (name: string): string {
  ensureModuleScope()
  const source = readFileSync(join(ROOT, 'bench', `${name}.ts`), 'utf8')
  const output = ts.transpileModule(source, {
    fileName: `${name}.ts`,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023, verbatimModuleSyntax: true }
  })
  const file = join(CACHE, 'bench', `${name}.js`)
  mkdirSync(join(CACHE, 'bench'), { recursive: true })
  writeAtomically(file, output.outputText)
  return file
}
