import fp from 'fastify-plugin'
import { createRecorder, type Recorder } from '../recording/recorder.js'

declare module 'fastify' {
  interface FastifyInstance {
    recorder: Recorder
    /** Finalizations in flight; close waits for them so a stream ending at shutdown is not lost. */
    recordingsInFlight: Set<Promise<unknown>>
  }
}

export interface RecorderPluginOptions {
  /** How often complete spool files are retried. Default 30 s. */
  spoolRetryMs?: number
  /** How often agents' pause/resume/stop are looked for, while this process holds a stream. Default 250 ms. */
  controlPollMs?: number
}

export default fp<RecorderPluginOptions>(async (app, opts) => {
  const { config } = app
  // Locked by the data-dir plugin: its .part files are either ours or a dead process's.
  const { spoolDir } = app
  const recorder = createRecorder({
    db: app.database.db,
    store: app.objectStore,
    keys: app.tenantKeys,
    clock: app.clock,
    log: app.log,
    spoolDir,
    sseKmsKeyId: config.s3.sseKmsKeyId
  })
  const inFlight = new Set<Promise<unknown>>()
  app.decorate('recorder', recorder)
  app.decorate('recordingsInFlight', inFlight)

  let timer: NodeJS.Timeout | undefined
  let controlTimer: NodeJS.Timeout | undefined
  let polling = false
  const poll = () => {
    if (polling || recorder.liveCount() === 0) return
    polling = true
    recorder.pollControls().catch((err: unknown) => { app.log.warn({ err }, 'could not read recording controls') }).finally(() => { polling = false })
  }
  const retry = () => {
    const run = recorder.retrySpooled().catch((err: unknown) => { app.log.error({ err }, 'spool retry failed') })
    inFlight.add(run)
    void run.finally(() => inFlight.delete(run))
  }
  app.addHook('onReady', async () => {
    // Before the server takes any stream: a previous run may have died mid-call (its .part files
    // are recovered) or left complete recordings that never reached the bucket.
    const orphans = await recorder.adoptOrphans()
    if (orphans > 0) app.log.warn({ orphans }, 'spool: recordings left by a process that died; recovering them')
    retry()
    timer = setInterval(retry, opts.spoolRetryMs ?? 30_000)
    timer.unref()
    controlTimer = setInterval(poll, opts.controlPollMs ?? 250)
    controlTimer.unref()
  })
  app.addHook('preClose', async () => {
    clearInterval(timer)
    clearInterval(controlTimer)
  })
  app.addHook('onClose', async () => {
    await Promise.allSettled([...inFlight])
  })
}, { name: 'recorder', dependencies: ['data-dir', 'database', 'storage', 'keys'] })
