import { STATUS_CODES } from 'node:http'
import helmet from '@fastify/helmet'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import websocket from '@fastify/websocket'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyError } from 'fastify'
import { systemClock, type Clock } from './clock.js'
import type { Config } from './config.js'
import type { Database } from './db/client.js'
import { ErrorReplySchema, isShownServerError } from './errors.js'
import { finiteKeyword } from './routes/query-params.js'
import { serializeRequest } from './request-log.js'
import authPlugin from './plugins/auth.js'
import consistencyPlugin from './plugins/consistency.js'
import corePlugin from './plugins/core.js'
import dataDirPlugin from './plugins/data-dir.js'
import diallerPlugin from './plugins/dialler.js'
import databasePlugin from './plugins/database.js'
import keysPlugin, { type KeysPluginOptions } from './plugins/keys.js'
import offboardingPlugin from './plugins/offboarding.js'
import overloadPlugin, { type OverloadPluginOptions } from './plugins/overload.js'
import recorderPlugin, { type RecorderPluginOptions } from './plugins/recorder.js'
import storagePlugin from './plugins/storage.js'
import sweeperPlugin from './plugins/sweeper.js'
import webhooksPlugin from './plugins/webhooks.js'
import switchboardsPlugin from './plugins/switchboards.js'
import apiRoutes from './routes/api/index.js'
import consoleRoutes from './routes/console.js'
import healthRoutes from './routes/health.js'
import playbackRoutes from './routes/recordings.js'
import twilioRoutes from './routes/twilio/index.js'
import type { MediaRouteOptions } from './routes/twilio/media.js'
import type { ObjectStore } from './storage/object-store.js'

export interface AppOverrides {
  clock?: Clock
  /** An open database to use instead of opening the configured one (left open on close). */
  database?: Database
  /** An object store to use instead of opening the configured one (left open on close). */
  objectStore?: ObjectStore
  /** Where log lines go instead of stdout (tests read them); the logger's settings stay the app's. */
  logStream?: { write (line: string): void }
  recorder?: RecorderPluginOptions
  keys?: KeysPluginOptions
  media?: MediaRouteOptions
  overload?: OverloadPluginOptions
}

export async function buildApp (config: Config, overrides: AppOverrides = {}) {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      // `req` in any line, Fastify's own included, is method, route and a redacted URL: no
      // headers, no link token, no phone number (src/request-log.ts).
      serializers: { req: serializeRequest },
      // For lines that log headers by hand, which none should.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-twilio-signature"]', 'req.headers["x-recording-pin"]', 'headers.authorization', 'headers.cookie', 'headers["x-recording-pin"]'],
      ...(overrides.logStream !== undefined ? { stream: overrides.logStream } : {})
    },
    // A client gets this long to send its whole request; after it Node answers 408 and closes.
    // It ends when the body has arrived: a long download or a WebSocket after its upgrade is not cut.
    requestTimeout: config.requestTimeoutMs,
    http: {
      // Headers come in one packet from any real client; 30 s is far above that and below Node's 60.
      headersTimeout: Math.min(config.requestTimeoutMs, 30_000),
      // Node looks for expired requests every 30 s by default, which would let a short timeout run
      // up to 30 s over; a quarter of the headers timeout keeps the overrun proportionate.
      connectionsCheckingInterval: Math.max(100, Math.floor(Math.min(config.requestTimeoutMs, 30_000) / 4))
    },
    // Unknown fields are an error the client should hear about, not something to drop silently.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false, keywords: [finiteKeyword] } },
    forceCloseConnections: 'idle',
    // One line per request instead of two: plugins/core.ts logs it when the reply is sent.
    logController: new LogController({ disableRequestLogging: true })
  }).withTypeProvider<TypeBoxTypeProvider>()

  try {
    // First, so its onRequest hook and route options apply to every route registered after it.
    await app.register(helmet, helmetOptions(config.publicUrl))
    await app.register(swagger, {
      openapi: {
        info: { title: 'callgate', description: 'Consent-first phone calls: admin API and Twilio webhooks', version: '0.1.0' },
        components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
        security: [{ apiKey: [] }]
      }
    })
    await app.register(swaggerUi, { routePrefix: '/docs' })
    // Twilio sends ~50 small frames a second per track; 1 MiB is far above any legitimate message.
    await app.register(websocket, { options: { maxPayload: 1024 * 1024 } })
    app.addSchema(ErrorReplySchema)

    await app.register(corePlugin, { config, clock: overrides.clock ?? systemClock })
    await app.register(dataDirPlugin)
    await app.register(databasePlugin, overrides.database !== undefined ? { database: overrides.database } : {})
    await app.register(storagePlugin, overrides.objectStore !== undefined ? { objectStore: overrides.objectStore } : {})
    await app.register(authPlugin)
    await app.register(keysPlugin, overrides.keys ?? {})
    await app.register(consistencyPlugin)
    await app.register(switchboardsPlugin)
    await app.register(recorderPlugin, overrides.recorder ?? {})
    await app.register(offboardingPlugin)
    await app.register(webhooksPlugin)
    await app.register(sweeperPlugin)
    await app.register(diallerPlugin)
    // Before the routes: its onRequest hook answers 503 before a shed request's body is read.
    await app.register(overloadPlugin, overrides.overload ?? {})

    app.setErrorHandler(async (error: FastifyError, request, reply) => {
      const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
      if (status >= 500) {
        request.log.error({ err: error }, 'request failed')
        if (!isShownServerError(error)) return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' })
      }
      const { problems, reason } = error as { problems?: unknown, reason?: unknown }
      return reply.code(status).send({
        statusCode: status,
        code: error.code,
        error: STATUS_CODES[status] ?? 'Error',
        message: error.message,
        ...(Array.isArray(problems) ? { problems } : {}),
        ...(typeof reason === 'string' ? { reason } : {})
      })
    })

    await app.register(healthRoutes)
    await app.register(apiRoutes, { prefix: '/api' })
    await app.register(playbackRoutes)
    await app.register(twilioRoutes, { prefix: '/twilio', ...(overrides.media !== undefined ? { media: overrides.media } : {}) })
    await app.register(consoleRoutes)
  } catch (err) {
    // A plugin refused to start (bad keys, a spool folder in use…): release what the ones before
    // it opened (the embedded S3 server, database connections) so the process can exit cleanly.
    await app.close().catch(() => {})
    throw err
  }
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>

/**
 * Security headers for every response. One content security policy serves both pages this server
 * has, /console (a Vite build: hashed files only) and /docs (@fastify/swagger-ui 6: scripts and
 * styles from files, its logo a data: image, no validator badge): nothing inline, nothing from
 * elsewhere, never framed. HSTS only when PUBLIC_URL is https: that is how browsers reach the
 * server then, and an http installation (the embedded default) must stay reachable over http.
 */
function helmetOptions (publicUrl: string) {
  const https = publicUrl.startsWith('https:')
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'", 'data:'],
        mediaSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"]
        // No upgrade-insecure-requests: every source is 'self', so a page served over https loads
        // nothing over http anyway, and a page on http://127.0.0.1 (embedded default, tests)
        // would have its own requests sent to an https that is not there.
      }
    },
    frameguard: { action: 'deny' as const },
    hsts: https ? { maxAge: 31_536_000, includeSubDomains: true } : false as const,
    // Signed recording links carry their token in the query: no Referer may repeat it.
    referrerPolicy: { policy: 'no-referrer' as const }
  }
}
