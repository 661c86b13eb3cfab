import assert from 'node:assert/strict'

/** Fails naming where a secret or token was found (never printing the value itself). */
export function assertNoLeak (haystacks: Record<string, string>, needles: readonly string[]): void {
  assert.ok(needles.length > 0, 'the leak search needs values to search for')
  for (const [where, text] of Object.entries(haystacks)) {
    for (const [index, needle] of needles.entries()) {
      assert.ok(needle.length >= 8, 'values searched for must be long enough to be meaningful')
      assert.equal(text.includes(needle), false, `sensitive value #${index + 1} appears in ${where}`)
    }
  }
}

export async function redisDump (client: { keys: (pattern: string) => Promise<string[]>, get: (key: string) => Promise<string | null> }): Promise<string> {
  const keys = await client.keys('*')
  const values = await Promise.all(keys.map(async (key) => `${key}=${await client.get(key) ?? ''}`))
  return values.join('\n')
}
