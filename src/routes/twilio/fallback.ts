import type { FastifyPluginAsync } from 'fastify'
import { fallbackTwiml } from '../../twilio/twiml.js'
import { TwimlReply, VoiceParamsSchema } from './schemas.js'

/** Twilio's "Fallback URL": answers without the database and never records. */
const fallbackRoute: FastifyPluginAsync = async (app) => {
  app.post('/fallback', {
    schema: { summary: 'Answer a call without the database (Twilio Fallback URL)', tags: ['twilio'], body: VoiceParamsSchema, response: TwimlReply }
  }, async (request, reply) => {
    request.log.warn({ callSid: (request.body as { CallSid?: string }).CallSid }, 'fallback answered a call')
    return reply.type('text/xml').send(fallbackTwiml(null))
  })
}

export default fallbackRoute
