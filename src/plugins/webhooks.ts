import fp from 'fastify-plugin'
import { systemClock } from '../clock.js'
import { createDeliverer, type Deliverer } from '../events/deliverer.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Delivers the event outbox to the tenants' endpoints (events/deliverer.ts); its timer runs every WEBHOOK_INTERVAL_MS. */
    webhooks: Deliverer
  }
}

export default fp(async (app) => {
  const deliverer = createDeliverer({
    db: app.database.db,
    clock: app.clock,
    wallClock: systemClock,
    fields: async (tenantId) => await app.tenantKeys.fieldsOf(tenantId),
    allowPrivate: app.config.webhookAllowPrivate,
    log: app.log.child({ component: 'webhooks' })
  })
  app.decorate('webhooks', deliverer)
  const ms = app.config.webhookIntervalMs
  if (ms === 0) return
  let running: { stop (): Promise<void> } | undefined
  app.addHook('onReady', async () => {
    running = deliverer.start(ms, (err) => { app.log.error({ err }, 'event delivery round failed') })
  })
  app.addHook('preClose', async () => { await running?.stop() })
}, { name: 'webhooks', dependencies: ['database', 'keys'] })
