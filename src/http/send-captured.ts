import type { FastifyReply } from 'fastify'
import { returnedResponseHeaders } from '../qlik/header-policy.js'
import type { CapturedAnswer } from '../idempotency/captured-answer.js'

/** Hands a captured answer back as Qlik sent it: status, the useful headers, the body bytes. */
export function sendCaptured (reply: FastifyReply, answer: CapturedAnswer): FastifyReply {
  reply.code(answer.statusCode).headers(returnedResponseHeaders(answer.headers))
  if (answer.statusCode === 204 || answer.statusCode === 304 || reply.request.method === 'HEAD') return reply.send()
  return reply.send(answer.body)
}
