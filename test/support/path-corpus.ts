/**
 * Paths for comparing two implementations of a path check: `/api/v1/`
 * followed by pieces that matter to such checks (dots, slashes, percent
 * encodings, `tenants` in several cases), combined deterministically from a
 * seed so that a failure names a path that can be run again.
 */
const PIECES = ['/', '.', '..', '/.', '/..', 'tenants', 'TENANTS', 'Tenants', '%74enants', '%2e', '%2F', '%25', '%zz', 'me', 'actions', 'deactivate', 'users', 'T1', ';', '~', '', '\\', '?', ' '] as const
const PREFIXES = ['/api/v1', '/api/v1/', '/API/v1/', '/api/v1/tenants', 'api/v1/', '//api/v1/'] as const

export function pathCorpus (count: number, seed = 1): string[] {
  let state = seed
  // A linear congruential generator: the same corpus on every run.
  const next = (bound: number): number => {
    state = (state * 1103515245 + 12345) % 2147483648
    // The high bits: an LCG's low bits repeat with short periods.
    return Math.floor(state / 65536) % bound
  }
  const paths: string[] = []
  for (let index = 0; index < count; index++) {
    let path: string = PREFIXES[next(PREFIXES.length)] ?? ''
    const pieces = 1 + next(6)
    for (let piece = 0; piece < pieces; piece++) path += PIECES[next(PIECES.length)] ?? ''
    paths.push(path)
  }
  return paths
}
