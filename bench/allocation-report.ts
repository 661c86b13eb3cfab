import { readFileSync } from 'node:fs'

/**
 * `npx tsx bench/allocation-report.ts <file.heapprofile> <requests> [rows]`:
 * bytes allocated per request by source file (the broker's, by path under
 * dist/; a library, by package; Node's own modules, by name) and by
 * function, from a profile bench/allocation-sampler.mjs wrote. `requests` is
 * how many the process answered while sampling (from the bench's output).
 */
interface ProfileNode {
  callFrame: { functionName: string, url: string, lineNumber: number }
  selfSize: number
  children: ProfileNode[]
}

const [file, requestsText, rowsText] = process.argv.slice(2)
if (file === undefined || requestsText === undefined) {
  process.stderr.write('usage: npx tsx bench/allocation-report.ts <file.heapprofile> <requests> [rows]\n')
  process.exit(2)
}
const requests = Number(requestsText)
const rows = Number(rowsText ?? 30)
const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode }

function sourceOf (url: string, functionName: string): string {
  if (url.includes('/dist/')) return `broker ${url.slice(url.indexOf('/dist/') + '/dist/'.length)}`
  if (url.includes('node_modules/')) {
    const [scope = '', name = ''] = url.slice(url.lastIndexOf('node_modules/') + 'node_modules/'.length).split('/')
    return scope.startsWith('@') ? `${scope}/${name}` : scope
  }
  return url === '' ? `(${functionName === '' ? 'native' : functionName})` : url
}

const bySource = new Map<string, number>()
const byFunction = new Map<string, number>()
let total = 0
const pending = [head]
for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
  pending.push(...node.children)
  if (node.selfSize === 0) continue
  const { functionName, url, lineNumber } = node.callFrame
  const source = sourceOf(url, functionName)
  total += node.selfSize
  bySource.set(source, (bySource.get(source) ?? 0) + node.selfSize)
  const where = `${functionName === '' ? '(anonymous)' : functionName} ${source}:${lineNumber + 1}`
  byFunction.set(where, (byFunction.get(where) ?? 0) + node.selfSize)
}

const perRequest = (bytes: number): string => `${Math.round(bytes / requests)}`.padStart(7)
process.stdout.write(`${(total / requests / 1024).toFixed(1)} KB allocated per request (${requests} requests)\n\nby source, bytes per request:\n`)
for (const [source, bytes] of [...bySource].sort((a, b) => b[1] - a[1]).slice(0, rows)) process.stdout.write(`${perRequest(bytes)}  ${source}\n`)
process.stdout.write('\nby function, bytes per request:\n')
for (const [where, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, rows)) process.stdout.write(`${perRequest(bytes)}  ${where}\n`)
