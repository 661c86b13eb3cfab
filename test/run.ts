/**
 * Runs test files one after the other in this one process (`npm test`,
 * `npm run test:unit`): `tsx test/run.ts "<glob>"...`.
 *
 * `node --test` starts a process per file, and each one loads (and tsx
 * compiles) the broker's modules again: about 1.2 s per file, two minutes of
 * the suite. `--test-isolation=none` would share one process, but it loads
 * every file before running any test, and the files here await their top
 * level `describe` (no-floating-promises), which then never settles. This
 * runner does what each of `node --test`'s child processes does, for every
 * file in turn: it imports the file, whose awaited `describe` runs its tests
 * under node:test's own harness (same reporters, `--test-reporter`, exit
 * code 1 on a failure). One file's tests finish before the next file is
 * imported, as with `--test-concurrency=1`. Each file is imported inside a
 * test named by its path, so a file's top-level before/after hooks are its
 * own (on the shared root they would run when the root is first idle, in the
 * middle of a later file), an error thrown while loading it fails that test,
 * and the report times every file.
 *
 * A file whose proof needs a fresh process (what a process loads at start,
 * say) says so on a line of its own, `// test/run.ts: own process`, with why;
 * it then runs in a child process, as under `node --test`, and its test here
 * fails with the child's output when the child fails.
 *
 * A file whose time is mostly spent waiting on real processes and real time
 * (replicas, token lifetimes, Qlik's rate windows, failovers) says
 * `// test/run.ts: second lane`. On a machine with two or more cores those
 * files run one after the other in a second runner process, beside this
 * one's files, so the waiting of one lane overlaps the work of the other
 * (`TEST_LANES=1` runs everything here, one file at a time, as before). The
 * second lane's report is printed whole when it ends, under a test named
 * after it that fails when any of its files fails.
 *
 * Sharing one process asks three things of the tests, which they meet:
 * a file restores any process.env it changes, closes what it starts (a
 * leaked server or timer keeps this process alive: it is reported below and
 * fails the run, where a child process would hang), and leaves process-wide
 * state alone (the broker keeps none per broker: one prom-client process
 * registry, no global tracer, no signal handlers under test).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { glob, readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { relative, resolve } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'

/** How long the event loop may stay busy after the last file before its handles count as leaked. */
const LEAK_GRACE_MS = 10_000

// node:test filters by name before a test runs; the tests of a file are only
// known once its wrapping test runs, so a name filter would skip every file.
const filter = process.execArgv.find((flag) => /^--test-(name-pattern|skip-pattern|only)\b/.test(flag))
if (filter !== undefined) {
  process.stderr.write(`test/run.ts cannot filter by test name (${filter}): use npm run test:file -- ${filter} <files>\n`)
  process.exit(2)
}

/** Set in the second lane's own runner: its files run here, whatever they say. */
const IN_SECOND_LANE = process.argv.includes('--second-lane')
const patterns = process.argv.slice(2).filter((argument) => !argument.startsWith('--'))
if (patterns.length === 0) {
  process.stderr.write('usage: tsx test/run.ts "<glob>" [more globs or files]\n')
  process.exit(2)
}

const files = new Set<string>()
for (const pattern of patterns) {
  const matched: string[] = []
  for await (const file of glob(pattern, { exclude: (name) => name === 'node_modules' })) matched.push(file)
  if (matched.length === 0) {
    process.stderr.write(`no test file matches ${pattern}\n`)
    process.exitCode = 1
  }
  // The order `node --test` uses: each pattern's matches sorted.
  for (const file of matched.sort()) files.add(resolve(file))
}

const OWN_PROCESS = /^\/\/ test\/run\.ts: own process\b/m
const SECOND_LANE = /^\/\/ test\/run\.ts: second lane\b/m
const LANES = Number(process.env.TEST_LANES ?? Math.min(2, availableParallelism()))

/** A child runner with this process's loader flags and the spec reporter: how it ended, and all it printed. */
async function runChild (args: string[]): Promise<{ code: number | null, signal: NodeJS.Signals | null, output: string }> {
  const child = spawn(process.execPath, [...process.execArgv, '--test-reporter=spec', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const [code, signal] = await once(child, 'close') as [number | null, NodeJS.Signals | null]
  return { code, signal, output }
}

/** Runs `file` as `node --test` runs each file: in a child process, failing on a non-zero exit. */
async function runInOwnProcess (file: string): Promise<void> {
  const { code, signal, output } = await runChild([file])
  if (code !== 0) throw new Error(`${relative(process.cwd(), file)} failed in its own process (exit ${String(code ?? signal)}):\n${output}`)
}

const here: Array<{ file: string, ownProcess: boolean }> = []
const secondLane: string[] = []
for (const file of files) {
  const source = await readFile(file, 'utf8')
  if (!IN_SECOND_LANE && LANES > 1 && SECOND_LANE.test(source)) secondLane.push(file)
  else here.push({ file, ownProcess: OWN_PROCESS.test(source) })
}

// Started before this lane's first file, awaited after its last.
const secondLaneRun = secondLane.length === 0 ? undefined : runChild([process.argv[1] ?? 'test/run.ts', '--second-lane', ...secondLane])

for (const { file, ownProcess } of here) {
  await test(relative(process.cwd(), file), async () => {
    if (ownProcess) await runInOwnProcess(file)
    else await import(pathToFileURL(file).href)
  })
}

if (secondLaneRun !== undefined) {
  await test(`second lane: ${secondLane.length} files beside the others`, async (t) => {
    const { code, signal, output } = await secondLaneRun
    process.stdout.write(`\n# second lane (${secondLane.map((file) => relative(process.cwd(), file)).join(', ')})\n${output}\n`)
    for (const line of output.split('\n').filter((text) => /^ℹ (tests|pass|fail|cancelled|skipped) \d+/.test(text))) t.diagnostic(`second lane ${line.slice(2)}`)
    if (code !== 0) throw new Error(`the second lane failed (exit ${String(code ?? signal)}): its report is above`)
  })
}

// Every test has ended; node:test prints its summary when the event loop
// drains. Anything still holding it after a grace period was left open by a
// test: name it and fail, rather than hang as a leaked child process would.
setTimeout(() => {
  const open = process.getActiveResourcesInfo().filter((kind) => kind !== 'Timeout')
  process.stderr.write(`\ntest/run.ts: the tests ended ${LEAK_GRACE_MS / 1000} s ago but handles are still open (${open.join(', ')}): a test leaked them\n`)
  process.exit(1)
}, LEAK_GRACE_MS).unref()
