import fp from 'fastify-plugin'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    clock: Clock
  }
}

export default fp<{ config: Config, clock: Clock }>(async (app, opts) => {
  app.decorate('config', opts.config)
  app.decorate('clock', opts.clock)
  // Fastify's own request logging writes two lines per request (received, completed); at the
  // webhook rates a call flow sees, log writes were a tenth of the CPU. One line carries both.
  // `req` goes through the logger's serializer (src/request-log.ts): route and redacted query,
  // never a link token or a phone number.
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: { statusCode: reply.statusCode }, responseTime: reply.elapsedTime }, 'request completed')
  })
}, { name: 'core' })
