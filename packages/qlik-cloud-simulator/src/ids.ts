import { randomBytes } from 'node:crypto'

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'

function randomFrom (alphabet: string, length: number): string {
  const bytes = randomBytes(length)
  let out = ''
  // A modulo bias of a few percent is irrelevant for simulated ids.
  for (const byte of bytes) out += alphabet[byte % alphabet.length]
  return out
}

/** Tenant id: 32 alphanumerics, like `TiQ8GPVr8qI714Lp5ChAAFFaU24MJy69`. */
export const tenantId = (): string => randomFrom(ALNUM, 32)

/** Generated tenant name: 15 lowercase alphanumerics, like `ire7t7hg58avbmx`. */
export const tenantName = (): string => randomFrom(LOWER_ALNUM, 15)

/** User and space ids: 24 hex digits, like Qlik's. */
export const objectId = (): string => randomBytes(12).toString('hex')

export const accessToken = (): string => randomBytes(32).toString('base64url')

/** Regional OAuth client id: 32 hex digits. */
export const clientId = (): string => randomBytes(16).toString('hex')

export const clientSecret = (): string => randomBytes(32).toString('base64url')

export const traceId = (): string => randomBytes(16).toString('hex')
