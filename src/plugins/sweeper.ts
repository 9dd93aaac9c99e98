import fp from 'fastify-plugin'
import { finishPending } from '../offboarding/offboard.js'
import { sweep, type SweepResult } from '../retention/sweeper.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Runs one retention sweep now (the timer runs it every SWEEP_INTERVAL_SECONDS), then
     *  finishes offboardings left incomplete and prunes delivered events past 30 days. */
    sweep (): Promise<SweepResult>
  }
}

export default fp(async (app) => {
  const run = async (): Promise<SweepResult> => {
    const result = await sweep({ db: app.database.db, store: app.objectStore, clock: app.clock, log: app.log })
    return { ...result, offboardingsFinished: await finishPending(app.offboarding), eventsPruned: await app.webhooks.prune() }
  }
  app.decorate('sweep', run)
  const seconds = app.config.sweepIntervalSeconds
  if (seconds === 0) return
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> = Promise.resolve()
  app.addHook('onReady', async () => {
    timer = setInterval(() => { running = run().catch((err: unknown) => { app.log.error({ err }, 'retention sweep failed') }) }, seconds * 1000)
    timer.unref()
  })
  app.addHook('preClose', async () => {
    clearInterval(timer)
    await running
  })
}, { name: 'sweeper', dependencies: ['database', 'storage', 'offboarding', 'webhooks'] })
