import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isoTime } from '../../../src/audit/iso-time.js'

await describe('isoTime', async () => {
  await it('gives what Date#toISOString gives, across milliseconds, seconds, days, years and back again', () => {
    const starts = [Date.UTC(2026, 11, 4, 14, 59, 59, 990), Date.UTC(2026, 11, 31, 23, 59, 59, 995), Date.UTC(1969, 11, 31, 23, 59, 59, 990), 0, Date.UTC(2024, 1, 28, 23, 59, 58, 0)]
    for (const start of starts) {
      for (let ms = start; ms < start + 2_020; ms += 7) assert.equal(isoTime(ms), new Date(ms).toISOString(), `at ${ms}`)
    }
    // Out of order, as clocks of different callers may be.
    for (const ms of [starts[0]! + 5, starts[1]!, starts[0]! + 3, 1_000_000_000_123.9, -1.5, 8.64e15]) assert.equal(isoTime(ms), new Date(ms).toISOString(), `at ${ms}`)
  })

  await it('refuses an invalid time as toISOString does', () => {
    assert.throws(() => isoTime(Number.NaN), RangeError)
    assert.throws(() => isoTime(8.64e15 + 1), RangeError)
  })
})
