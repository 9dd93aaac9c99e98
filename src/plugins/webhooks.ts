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
  let timer: NodeJS.Timeout | undefined
  let closing = false
  const rounds = new Set<Promise<unknown>>()
  // A round claims what this process has free slots for. Another starts as soon as one that found
  // work ends, and on every tick besides: a slow endpoint's deliveries finish in their own round
  // while the next rounds carry on with the free slots (at most 4 rounds at once).
  const pump = (): void => {
    if (closing || rounds.size >= 4) return
    const round = deliverer.deliver().then(
      (r) => r.delivered + r.retried + r.failed > 0,
      (err: unknown) => { app.log.error({ err }, 'event delivery round failed'); return false })
    rounds.add(round)
    void round.then((busy) => { rounds.delete(round); if (busy) pump() })
  }
  app.addHook('onReady', async () => {
    timer = setInterval(pump, ms)
    timer.unref()
  })
  app.addHook('preClose', async () => {
    closing = true
    clearInterval(timer)
    await Promise.all(rounds)
  })
}, { name: 'webhooks', dependencies: ['database', 'keys'] })
