import type { FastifyReply } from 'fastify'
import { isCaptured } from '../idempotency/captured-answer.js'
import { isReplayed, type IdempotentAnswer } from '../idempotency/idempotency.js'
import { sendCaptured } from './send-captured.js'
import { sendUpstream } from './send-upstream.js'

export const REPLAYED_HEADER = 'idempotent-replayed'
export const BODY_OMITTED_HEADER = 'idempotent-body-omitted'

/** Sends Qlik's answer (read or streamed), or a stored one replayed for a repeated Idempotency-Key, marked so the caller can tell. */
export async function sendAnswer (reply: FastifyReply, answer: IdempotentAnswer): Promise<FastifyReply> {
  if (isReplayed(answer)) {
    reply.header(REPLAYED_HEADER, 'true')
    if (answer.replayed.bodyOmitted) reply.header(BODY_OMITTED_HEADER, 'true')
  }
  return isCaptured(answer) ? sendCaptured(reply, answer) : await sendUpstream(reply, answer)
}
