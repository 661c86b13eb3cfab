#!/usr/bin/env node
// The package's command (`npx qlik-cloud-simulator`): the built simulator,
// dist/main.js. A committed file rather than dist/main.js itself, so npm links
// the command on install, before anything is built.
import { existsSync } from 'node:fs'

const main = new URL('../dist/main.js', import.meta.url)
if (!existsSync(main)) {
  process.stderr.write('qlik-simulator: dist/main.js is not built; run `npm run build` (or `npm run simulator` at the repository root to run the sources)\n')
  process.exit(1)
}
await import(main.href)
