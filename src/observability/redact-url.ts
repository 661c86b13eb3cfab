/**
 * Query parameters whose value is a credential by their name: OAuth and
 * OIDC (`access_token`, `id_token`, `client_secret`, `code`), API keys,
 * signatures, passwords, sessions. Matched on the decoded name, any case.
 */
const CREDENTIAL_NAME = /token|secret|passw|pwd|api[-_]?key|auth|credential|signature|^sig$|^code$|session|jwt|cookie|private|^key$/i

/** Values that are credentials by their shape, whatever the name: a broker API key or a JWT. */
const CREDENTIAL_VALUE = /qbk_|^eyJ[\w-]*\.[\w-]*\./

export const REDACTED = '[redacted]'

function decoded (text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '))
  } catch {
    return text
  }
}

/**
 * A URL as it may be logged or recorded: the path as sent, and every query
 * parameter whose name or value looks like a credential with its value
 * replaced by `[redacted]` (`?access_token=qbk_…` was logged as sent).
 * Everything else is kept as sent, so a log line still shows the request.
 */
export function redactUrl (url: string): string {
  const queryStart = url.indexOf('?')
  if (queryStart === -1) return url
  const parameters = url.slice(queryStart + 1).split('&').map((parameter) => {
    const equals = parameter.indexOf('=')
    if (equals === -1) return CREDENTIAL_VALUE.test(decoded(parameter)) ? REDACTED : parameter
    const name = parameter.slice(0, equals)
    const value = parameter.slice(equals + 1)
    return CREDENTIAL_NAME.test(decoded(name)) || CREDENTIAL_VALUE.test(decoded(value)) ? `${name}=${REDACTED}` : parameter
  })
  return `${url.slice(0, queryStart)}?${parameters.join('&')}`
}
