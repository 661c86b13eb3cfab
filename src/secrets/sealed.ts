import { inspect } from 'node:util'

const REDACTED = '[redacted]'

/**
 * A secret value (client secret, access token) that cannot leak by accident:
 * JSON.stringify, string interpolation and util.inspect (which pino and
 * console use) all print `[redacted]`. Only `reveal()` gives the value, so
 * every place that needs the real thing is greppable.
 */
export interface Sealed {
  reveal (): string
  toJSON (): string
  toString (): string
}

export function seal (value: string): Sealed {
  return Object.freeze({
    reveal: () => value,
    toJSON: () => REDACTED,
    toString: () => REDACTED,
    [inspect.custom]: () => REDACTED
  })
}
