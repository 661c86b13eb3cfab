/**
 * Runs at most one `work` per key at a time in this process; callers that
 * arrive while it runs share its result.
 */
export function createSingleFlight<T> (): (key: string, work: () => Promise<T>) => Promise<T> {
  const running = new Map<string, Promise<T>>()
  return (key, work) => {
    const existing = running.get(key)
    if (existing !== undefined) return existing
    const started = work().finally(() => running.delete(key))
    running.set(key, started)
    return started
  }
}
