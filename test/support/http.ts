import { getGlobalDispatcher } from 'undici'

export interface HttpResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: <T = Record<string, unknown>>() => T
}

/**
 * Plain HTTP with the path sent exactly as given (no URL normalisation, so
 * `..` and `%2F` reach the server), as a hostile caller would send it.
 */
export async function http (base: string, method: string, path: string, options: { headers?: Record<string, string>, body?: unknown } = {}): Promise<HttpResult> {
  const hasBody = options.body !== undefined
  const response = await getGlobalDispatcher().request({
    origin: base,
    method: method as 'GET',
    path,
    headers: { ...(hasBody && typeof options.body !== 'string' ? { 'content-type': 'application/json' } : {}), ...options.headers },
    body: hasBody ? (typeof options.body === 'string' ? options.body : JSON.stringify(options.body)) : null
  })
  const text = await response.body.text()
  return { status: response.statusCode, headers: response.headers, text, json: <T>() => JSON.parse(text) as T }
}

export function bearer (key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` }
}
