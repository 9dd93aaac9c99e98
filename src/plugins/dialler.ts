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
  // One turn at a time in a process, every `ms` from the start of the last: the pace a turn's
  // share of callsPerMinute assumes. A turn that takes longer is followed at once by the next,
  // never overlapped by it.
  const next = (after: number) => {
    if (closing) return
    timer = setTimeout(() => {
      const began = Date.now()
      running = dialler.tick().catch((err: unknown) => { app.log.error({ err }, 'dialler turn failed') })
        .finally(() => { next(Math.max(0, ms - (Date.now() - began))) })
    }, after)
    timer.unref()
  }
  app.addHook('onReady', async () => { next(ms) })
  app.addHook('preClose', async () => {
    closing = true
    clearTimeout(timer)
    await running
  })
}, { name: 'dialler', dependencies: ['database', 'keys'] })
