import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './lib/build.js'
import { analyseProfile, PROFILE_META_KEY, renderProfile, type ProfileMeta } from './lib/profile.js'

/**
 * Analyses a broker CPU profile again, e.g. with more rows:
 *
 *   npx tsx bench/profile-report.ts [bench/results/broker.cpuprofile] [top]
 *
 * A profile saved by `npm run bench` carries its load window and build
 * folder; any other `node --cpu-prof` profile is analysed whole (without
 * per-request figures, and with built files named as they are).
 */
const file = process.argv[2] ?? join(ROOT, 'bench', 'results', 'broker.cpuprofile')
const top = Number(process.argv[3] ?? 40)
const meta = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)[PROFILE_META_KEY] as ProfileMeta | undefined
const summary = analyseProfile(file, { distRoot: meta?.distRoot ?? join(ROOT, 'dist'), requests: meta?.requests ?? 0, top, ...(meta === undefined ? {} : { fromUs: meta.fromUs, toUs: meta.toUs }) })
process.stdout.write(renderProfile(summary, top).join('\n') + '\n')
