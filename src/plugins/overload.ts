import underPressure, { TYPE_EVENT_LOOP_DELAY, type FastifyUnderPressureOptions } from '@fastify/under-pressure'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DatabaseUnavailable, Overloaded } from '../errors.js'
import { probe } from '../routes/health.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The database's health as last probed, by the overload guard's interval or by /readyz. */
    overload: { readonly databaseHealthy: boolean, noteDatabase (healthy: boolean): void }
  }
}

export interface OverloadPluginOptions {
  /** How often event-loop delay and use are sampled (under-pressure's sampleInterval). Default 1000 ms. */
  sampleIntervalMs?: number
}

/** How long a client told to come back should wait. */
export const RETRY_AFTER_SECONDS = 5

/**
 * Routes that keep answering under pressure, because they need neither the database nor much
 * work: liveness and readiness (an orchestrator must see the truth, not a shed request), Twilio's
 * Fallback URL (the place Twilio turns to when a webhook gets 503), the console's static files
 * and the API documentation. Unmatched URLs (404) are cheap too.
 */
function exempt (url: string | undefined): boolean {
  return url === undefined || url === '/healthz' || url === '/readyz' || url === '/twilio/fallback' ||
    url === '/console' || url.startsWith('/console/') || url === '/docs' || url.startsWith('/docs/')
}

/** The voice webhooks that can answer from memory when only the database is down. */
const WEBHOOKS = new Set(['/twilio/voice', '/twilio/flow', '/twilio/status'])

/**
 * Load shedding. A process whose event loop lags (or is busy past a set share of the time), as
 * @fastify/under-pressure measures it, answers 503 with Retry-After at once, before reading the
 * body, instead of queueing work for seconds: Twilio then asks the Fallback URL, API clients retry
 * later. The database is pinged on an interval (never per request; /readyz's probe counts too);
 * while it does not answer, API and playback requests and new media streams get 503, and the
 * voice webhooks skip the database and answer the database-free fallback (forward or apologise)
 * after their signature is checked, as they do when a query fails, only without waiting for it.
 */
export default fp<OverloadPluginOptions>(async (app, opts) => {
  const { maxEventLoopDelayMs, maxEventLoopUtilization, databaseCheckMs } = app.config.overload

  const sampleInterval = opts.sampleIntervalMs ?? 1000
  let readyAt: number | undefined
  app.addHook('onReady', async () => { readyAt = performance.now() })

  let shed = 0
  let lastLog = -Infinity
  const refuse = (request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => {
    shed++
    const now = performance.now()
    // One line per ten seconds, not one per refused request: an overloaded process should not log its way deeper.
    if (now - lastLog >= 10_000) {
      request.log.warn({ type, value, shed }, 'overloaded: answering 503')
      lastLog = now
      shed = 0
    }
    const error = new Overloaded()
    reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS))
    return { statusCode: 503, code: error.code, error: 'Service Unavailable', message: error.message }
  }

  // under-pressure sends what the handler returns, and lets the request through on undefined
  // (index.js, handlePressure); its typings allow only void.
  const pressureHandler = ((request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => {
    if (exempt(request.routeOptions.url)) return undefined
    // Start-up (compiling every route's schemas) is one long turn of the loop, which the next
    // sample reads as lag: not overload. Lag is counted from the second sample after ready.
    if (type === TYPE_EVENT_LOOP_DELAY && (readyAt === undefined || performance.now() - readyAt < 2 * sampleInterval)) return undefined
    return refuse(request, reply, type, value)
  }) as unknown as NonNullable<FastifyUnderPressureOptions['pressureHandler']>

  await app.register(underPressure, {
    sampleInterval,
    maxEventLoopDelay: maxEventLoopDelayMs,
    maxEventLoopUtilization,
    // Utilisation over the last sample, not since start.
    eventLoopUtilizationMode: 'interval',
    pressureHandler
  })

  // The database's health is kept here rather than in under-pressure's healthCheck, so that
  // /readyz's probe updates it too: a recovery it sees is acted on at once, not a check later.
  let databaseHealthy = true
  app.decorate('overload', {
    get databaseHealthy () { return databaseHealthy },
    noteDatabase: (healthy: boolean) => {
      if (healthy !== databaseHealthy) app.log[healthy ? 'info' : 'warn']({ healthy }, healthy ? 'database answers again: overload guard lifted' : 'database not answering: API gets 503, webhooks answer the fallback')
      databaseHealthy = healthy
    }
  })
  if (databaseCheckMs > 0) {
    let timer: NodeJS.Timeout | undefined
    let closed = false
    const check = async () => {
      const result = await probe(() => app.database.ping(), (err) => app.log.debug({ err }, 'overload guard: database ping failed'))
      if (closed) return
      app.overload.noteDatabase(result === 'ok')
      timer = setTimeout(check, databaseCheckMs).unref()
    }
    timer = setTimeout(check, databaseCheckMs).unref()
    app.addHook('onClose', async () => { closed = true; clearTimeout(timer) })
  }

  app.addHook('onRequest', async (request, reply) => {
    if (databaseHealthy) return
    const url = request.routeOptions.url
    // The webhooks answer the fallback themselves (the preHandler below), once their signature is checked.
    if (exempt(url) || WEBHOOKS.has(url!)) return
    reply.send(refuse(request, reply, 'database', undefined))
    return reply
  })

  // After the /twilio hooks have checked the signature: a verified webhook gets the fallback
  // TwiML from the Twilio routes' error handler.
  app.addHook('preHandler', async (request) => {
    if (!databaseHealthy && WEBHOOKS.has(request.routeOptions.url ?? '')) throw new DatabaseUnavailable()
  })
}, { name: 'overload', dependencies: ['core', 'database'] })
