/**
 * The targets in the order of one round of runs: every other round
 * backwards. A target measured right after another broker runs slower than
 * one measured first (3–10 % in `bench:variants`, docs/benchmarks.md,
 * round 5), so each target takes each place in turn.
 */
export function inTurn<T> (running: Iterable<T>, run: number): T[] {
  const order = [...running]
  return run % 2 === 0 ? order : order.reverse()
}
