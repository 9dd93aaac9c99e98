import formbody from '@fastify/formbody'
import type { FastifyError, FastifyPluginAsync } from 'fastify'
import { BadTwilioSignature } from '../../errors.js'
import { signedParams, signedUrl, validTwilioSignature } from '../../twilio/signature.js'
import { forwardOrApologise } from '../../twilio/twiml.js'
import callRoutes from './calls.js'
import fallbackRoute from './fallback.js'
import mediaRoute from './media.js'

/** Everything under /twilio: form bodies, signature check, and a TwiML answer when a handler fails. */
const twilioRoutes: FastifyPluginAsync = async (app) => {
  await app.register(formbody)

  // preValidation runs after the body is parsed but before the schema can coerce what Twilio signed.
  app.addHook('preValidation', async (request) => {
    const url = signedUrl(app.config.publicUrl, request)
    const signature = request.headers['x-twilio-signature']
    if (!validTwilioSignature(app.config.twilioAuthToken, typeof signature === 'string' ? signature : undefined, url, signedParams(request.body))) {
      request.log.warn({ url, hasSignature: signature !== undefined }, 'rejected a Twilio webhook with a bad signature')
      throw new BadTwilioSignature()
    }
  })

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error instanceof BadTwilioSignature) {
      return reply.code(403).type('text/plain').send('Forbidden')
    }
    // Twilio is the client here: a caller is better served by the fallback answer than by an
    // error page. Inbound calls are forwarded to their switchboard when it is known.
    request.log.error({ err: error }, 'Twilio webhook failed; answered with the fallback')
    const to = (request.body as { To?: unknown } | undefined)?.To
    const switchboard = typeof to === 'string' ? app.switchboards.get(to) ?? null : null
    return reply.code(200).type('text/xml').send(forwardOrApologise(switchboard))
  })

  await app.register(fallbackRoute)
  await app.register(callRoutes)
  await app.register(mediaRoute)
}

export default twilioRoutes
