import fp from 'fastify-plugin'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import { createTwilioRest, type TwilioRest } from '../twilio/rest.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    clock: Clock
    /** Twilio's REST API for this account; null when TWILIO_ACCOUNT_SID is not set. */
    twilio: TwilioRest | null
  }
}

export default fp<{ config: Config, clock: Clock }>(async (app, opts) => {
  app.decorate('config', opts.config)
  app.decorate('clock', opts.clock)
  app.decorate('twilio', createTwilioRest(opts.config))
  // Fastify's own request logging writes two lines per request (received, completed); at the
  // webhook rates a call flow sees, log writes were a tenth of the CPU. One line carries both.
  // `req` goes through the logger's serializer (src/request-log.ts): route and redacted query,
  // never a link token or a phone number.
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: { statusCode: reply.statusCode }, responseTime: reply.elapsedTime }, 'request completed')
  })
}, { name: 'core' })
