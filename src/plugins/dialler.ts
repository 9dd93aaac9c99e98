import fp from 'fastify-plugin'
import { createDialler, type Dialler } from '../dialler/dialler.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The campaign dialler (dialler/dialler.ts); its timer runs `tick` every DIALLER_INTERVAL_MS. */
    dialler: Dialler
  }
}

export default fp(async (app) => {
  const dialler = createDialler({
    db: app.database.db,
    twilio: app.twilio,
    clock: app.clock,
    config: app.config,
    fields: async (tenantId) => await app.tenantKeys.fieldsOf(tenantId),
    log: app.log.child({ component: 'dialler' })
  })
  app.decorate('dialler', dialler)
  const ms = app.config.diallerIntervalMs
  if (ms === 0) return
  let timer: NodeJS.Timeout | undefined
  let closing = false
  let running: Promise<unknown> = Promise.resolve()
  // One turn at a time in a process: the next is planned when the last one ends, so a slow
  // database spaces the turns out instead of stacking them up.
  const next = () => {
    if (closing) return
    timer = setTimeout(() => {
      running = dialler.tick().catch((err: unknown) => { app.log.error({ err }, 'dialler turn failed') }).finally(next)
    }, ms)
    timer.unref()
  }
  app.addHook('onReady', async () => { next() })
  app.addHook('preClose', async () => {
    closing = true
    clearTimeout(timer)
    await running
  })
}, { name: 'dialler', dependencies: ['database', 'keys'] })
