// Loaded into a broker with `node --import ./bench/allocation-sampler.mjs`
// (e.g. `npm run bench:variants -- 'alloc:NODE_ARGS=--import ./bench/allocation-sampler.mjs;ALLOCATION_PROFILE=/tmp/alloc.heapprofile'`):
// V8's sampling heap profiler with the objects the young and old
// generation collections freed kept in the profile, so it shows where the
// garbage of a request comes from, not only what is still alive
// (`node --heap-prof` keeps only the latter). Written when the process exits;
// read with `npx tsx bench/allocation-report.ts <file> <requests>`.
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'

const out = process.env.ALLOCATION_PROFILE ?? `allocation-${process.pid}.heapprofile`
const session = new Session()
session.connect()
session.post('HeapProfiler.enable')
session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
process.on('exit', () => {
  // The inspector answers a session of the process itself synchronously, so this runs before the exit completes.
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (error === null) writeFileSync(out, JSON.stringify(result.profile))
    else process.stderr.write(`allocation sampler: ${error.message}\n`)
  })
})
