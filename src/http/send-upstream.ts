import type { FastifyReply } from 'fastify'
import { returnedResponseHeaders } from '../qlik/header-policy.js'
import type { UpstreamResponse } from '../qlik/upstream-client.js'

/** Hands Qlik's answer back as Qlik sent it: status, useful headers, body streamed. */
export async function sendUpstream (reply: FastifyReply, response: UpstreamResponse): Promise<FastifyReply> {
  reply.code(response.statusCode).headers(returnedResponseHeaders(response.headers))
  if (response.statusCode === 204 || response.statusCode === 304 || reply.request.method === 'HEAD') {
    await response.body.dump()
    return reply.send()
  }
  return reply.send(response.body)
}
