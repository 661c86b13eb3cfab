import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import { errors as undiciErrors } from 'undici'
import { BrokerError } from '../http/broker-error.js'
import type { UpstreamResponse } from '../qlik/upstream-client.js'

/**
 * Qlik's answer read into memory: what the broker needs to look inside
 * (tenant registry) or keep (idempotency). `headers` are Qlik's as received;
 * only the ones the broker hands back are ever sent or stored.
 */
export interface CapturedAnswer {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

export async function captureUpstream (response: UpstreamResponse): Promise<CapturedAnswer> {
  try {
    return { statusCode: response.statusCode, headers: response.headers, body: await response.body.bytes() }
  } catch (error) {
    // Qlik answered, then its body stalled or broke: whatever it did is done, its answer is lost.
    if (error instanceof undiciErrors.BodyTimeoutError) throw new BrokerError('QB_UPSTREAM_TIMEOUT', `Qlik answered HTTP ${response.statusCode} but did not send the whole body in time; the request may have been carried out`, { cause: error })
    throw new BrokerError('QB_UPSTREAM_UNREACHABLE', `Qlik answered HTTP ${response.statusCode} but the connection broke while its body was read`, { cause: error })
  }
}

export function isCaptured (answer: CapturedAnswer | UpstreamResponse): answer is CapturedAnswer {
  return Buffer.isBuffer(answer.body)
}

/**
 * The JSON body of an answer, or undefined. The caller's Accept-Encoding
 * travels to Qlik, so the bytes may be compressed: they are decoded here for
 * reading only; the caller still gets them as Qlik sent them.
 */
export function readJsonBody (answer: CapturedAnswer): unknown {
  const encoding = answer.headers['content-encoding']
  try {
    const bytes = encoding === 'gzip' || encoding === 'x-gzip'
      ? gunzipSync(answer.body)
      : encoding === 'br' ? brotliDecompressSync(answer.body) : encoding === 'deflate' ? inflateSync(answer.body) : answer.body
    return JSON.parse(bytes.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}
