export function median (values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  const middle = Math.floor(finite.length / 2)
  return finite.length % 2 === 1 ? finite[middle] ?? Number.NaN : ((finite[middle - 1] ?? 0) + (finite[middle] ?? 0)) / 2
}

export function fixed (value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–'
}

/** Milliseconds with sensible precision: 0.42, 3.1, 27. */
export function ms (value: number): string {
  if (!Number.isFinite(value)) return '–'
  if (value < 10) return value.toFixed(2)
  if (value < 100) return value.toFixed(1)
  return value.toFixed(0)
}

export function thousands (value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–'
}

export function percent (ratio: number): string {
  return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)} %` : '–'
}
