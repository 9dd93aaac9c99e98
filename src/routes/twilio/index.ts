import formbody from '@fastify/formbody'
import type { FastifyError, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { BadTwilioSignature } from '../../errors.js'
import { loggableUrl } from '../../request-log.js'
import { signedParams, signedUrl, validTwilioBodySignature, validTwilioSignature } from '../../twilio/signature.js'
import { forwardOrApologise } from '../../twilio/twiml.js'
import callRoutes from './calls.js'
import fallbackRoute from './fallback.js'
import mediaRoute, { type MediaRouteOptions } from './media.js'

export interface TwilioRoutesOptions {
  media?: MediaRouteOptions
}

const signatureOf = (request: FastifyRequest): string | undefined => {
  const signature = request.headers['x-twilio-signature']
  return typeof signature === 'string' && signature !== '' ? signature : undefined
}

/**
 * Everything under /twilio: form bodies, signature check, and a TwiML answer when a handler fails.
 * Only a request whose signature was checked ever gets TwiML: anything else, whatever went wrong
 * with it (no header, a body too large or unparseable, a bad signature), is a 403.
 */
const twilioRoutes: FastifyPluginAsync<TwilioRoutesOptions> = async (app, opts) => {
  const { publicUrl, twilioAuthToken } = app.config
  const verified = new WeakSet<FastifyRequest>()
  // The URL as checked is PUBLIC_URL + the request's path and query (the usual misconfiguration is
  // a PUBLIC_URL that differs from what Twilio was given); the query is logged redacted.
  const logged = (request: FastifyRequest) => ({ publicUrl, url: loggableUrl(request.url, request.routeOptions.url ?? null) })
  const refuse = (request: FastifyRequest): never => {
    request.log.warn({ ...logged(request), hasSignature: signatureOf(request) !== undefined }, 'rejected a Twilio webhook with a bad signature')
    throw new BadTwilioSignature()
  }

  // Before the body is read: an unsigned request is refused without reading (or parsing) a byte of it.
  app.addHook('onRequest', async (request) => {
    if (signatureOf(request) === undefined) refuse(request)
  })

  await app.register(formbody)
  // A JSON webhook is signed over its raw body (bodySHA256), so it is checked here, before the
  // parse: a forged body is refused whether or not it parses. The default parser then reads it
  // (with its prototype-poisoning guard).
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const url = signedUrl(publicUrl, request)
    if (!validTwilioBodySignature(twilioAuthToken, signatureOf(request), url, body as string)) {
      request.log.warn(logged(request), 'rejected a Twilio JSON webhook with a bad signature or body hash')
      done(new BadTwilioSignature(), undefined)
      return
    }
    verified.add(request)
    parseJson(request, body as string, done)
  })

  // preValidation runs after the body is parsed but before the schema can coerce what Twilio signed.
  app.addHook('preValidation', async (request) => {
    if (verified.has(request)) return
    if (!validTwilioSignature(twilioAuthToken, signatureOf(request), signedUrl(publicUrl, request), signedParams(request.body))) refuse(request)
    verified.add(request)
  })

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (!verified.has(request)) {
      // Failed before its signature could be checked (e.g. a body too large to read): the sender
      // is unknown, so it hears nothing more than a forger would.
      if (!(error instanceof BadTwilioSignature)) request.log.warn({ code: error.code, statusCode: error.statusCode }, 'refused an unverified Twilio request')
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
  await app.register(mediaRoute, opts.media ?? {})
}

export default twilioRoutes
