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

export interface DumpableRedis {
  keys: (pattern: string) => Promise<string[]>
  type: (key: string) => Promise<string>
  get: (key: string) => Promise<string | null>
  hgetall: (key: string) => Promise<Record<string, string>>
  zrange: (key: string, start: number, stop: number) => Promise<string[]>
  lrange: (key: string, start: number, stop: number) => Promise<string[]>
  smembers: (key: string) => Promise<string[]>
  xrange: (key: string, start: string, end: string) => Promise<Array<[string, string[]]>>
}

/** Every key and value, whatever its type (strings, hashes, sorted sets, streams…), as text to search. */
export async function redisDump (client: DumpableRedis): Promise<string> {
  const keys = await client.keys('*')
  const values = await Promise.all(keys.map(async (key) => {
    const type = await client.type(key)
    const value = type === 'string'
      ? await client.get(key) ?? ''
      : type === 'hash'
        ? JSON.stringify(await client.hgetall(key))
        : type === 'zset'
          ? JSON.stringify(await client.zrange(key, 0, -1))
          : type === 'list'
            ? JSON.stringify(await client.lrange(key, 0, -1))
            : type === 'set'
              ? JSON.stringify(await client.smembers(key))
              : type === 'stream' ? JSON.stringify(await client.xrange(key, '-', '+')) : `(${type})`
    return `${key}=${value}`
  }))
  return values.join('\n')
}
