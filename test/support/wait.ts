/**
 * Polls `condition` until it holds, instead of sleeping a fixed time that is
 * too long on a quiet machine and too short on a loaded one. Fails with
 * `what` when it does not hold within `timeoutMs`.
 */
export async function waitFor (what: string, condition: () => boolean | Promise<boolean>, options: { timeoutMs?: number, intervalMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000)
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50))
  }
}
