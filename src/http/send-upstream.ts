import type { FastifyReply } from 'fastify'
import { captureUpstream } from '../idempotency/captured-answer.js'
import { returnedResponseHeaders } from '../qlik/header-policy.js'
import type { UpstreamResponse } from '../qlik/upstream-client.js'
import { sendCaptured } from './send-captured.js'

/**
 * Answers up to this size (by Qlik's Content-Length) are read whole and sent
 * in one write with their length; streaming them costs a write per chunk plus
 * chunked-encoding framing, which is most of a small answer's cost.
 */
const BUFFERED_UP_TO_BYTES = 64 * 1024

/** Hands Qlik's answer back as Qlik sent it: status, useful headers, the body (streamed when large or of unknown length). */
export async function sendUpstream (reply: FastifyReply, response: UpstreamResponse): Promise<FastifyReply> {
  const length = Number(response.headers['content-length'])
  if (Number.isInteger(length) && length <= BUFFERED_UP_TO_BYTES) return sendCaptured(reply, await captureUpstream(response))
  reply.code(response.statusCode).headers(returnedResponseHeaders(response.headers))
  if (response.statusCode === 204 || response.statusCode === 304 || reply.request.method === 'HEAD') {
    await response.body.dump()
    return reply.send()
  }
  return reply.send(response.body.stream())
}
