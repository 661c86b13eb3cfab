import { readFileSync, writeFileSync } from 'node:fs'
import { withFreshReference } from './config-reference.js'

const readme = new URL('../README.md', import.meta.url)
writeFileSync(readme, withFreshReference(readFileSync(readme, 'utf8')))
process.stdout.write('README.md configuration reference updated\n')
