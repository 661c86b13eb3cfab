#!/usr/bin/env node
// Runs the test files through tsx's node:test integration, one file at a time.
// Node 20's `--test` does not expand globs and glob CLIs depend on $SHELL (unset
// under CI runners), so the file list is built here. Arguments narrow the run:
// `npm test -- test/unit` or `npm test -- test/routes/tenants.test.ts`.
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(fileURLToPath(import.meta.url), '../..')
const tsx = join(root, 'node_modules', '.bin', 'tsx')

function testFilesUnder (path) {
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path, { recursive: true })
    .filter((entry) => entry.endsWith('.test.ts'))
    .map((entry) => join(path, entry))
}

const roots = process.argv.length > 2 ? process.argv.slice(2) : ['test']
const files = roots
  .flatMap((path) => testFilesUnder(resolve(root, path)))
  .map((file) => relative(root, file))
  .sort()

if (files.length === 0) {
  console.error(`no *.test.ts files under ${roots.join(', ')}`)
  process.exit(1)
}

const child = spawn(tsx, ['--test', '--test-concurrency=1', ...files], { cwd: root, stdio: 'inherit' })
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
