import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { forwardOrApologise } from '../../twilio/twiml.js'
import { FallbackParamsSchema, TwimlReply } from './schemas.js'

/** Twilio's "Fallback URL": answers from memory, without the database, and never records. */
const fallbackRoute: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/fallback', {
    schema: { summary: 'Answer a call without the database (Twilio Fallback URL)', tags: ['twilio'], body: FallbackParamsSchema, response: TwimlReply }
  }, async (request, reply) => {
    const { CallSid, To } = request.body
    const switchboard = typeof To === 'string' ? app.switchboards.get(To) ?? null : null
    request.log.warn({ callSid: CallSid, forwarded: switchboard !== null }, 'fallback answered a call')
    return reply.type('text/xml').send(forwardOrApologise(switchboard))
  })
}

export default fallbackRoute
