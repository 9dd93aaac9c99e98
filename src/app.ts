import { STATUS_CODES } from 'node:http'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import websocket from '@fastify/websocket'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyError, type FastifyServerOptions } from 'fastify'
import { systemClock, type Clock } from './clock.js'
import type { Config } from './config.js'
import type { Database } from './db/client.js'
import { ErrorReplySchema } from './errors.js'
import authPlugin from './plugins/auth.js'
import consistencyPlugin from './plugins/consistency.js'
import corePlugin from './plugins/core.js'
import dataDirPlugin from './plugins/data-dir.js'
import databasePlugin from './plugins/database.js'
import keysPlugin, { type KeysPluginOptions } from './plugins/keys.js'
import offboardingPlugin from './plugins/offboarding.js'
import recorderPlugin, { type RecorderPluginOptions } from './plugins/recorder.js'
import storagePlugin from './plugins/storage.js'
import sweeperPlugin from './plugins/sweeper.js'
import switchboardsPlugin from './plugins/switchboards.js'
import apiRoutes from './routes/api/index.js'
import consoleRoutes from './routes/console.js'
import healthRoutes from './routes/health.js'
import playbackRoutes from './routes/recordings.js'
import twilioRoutes from './routes/twilio/index.js'
import type { ObjectStore } from './storage/object-store.js'

export interface AppOverrides {
  clock?: Clock
  /** An open database to use instead of opening the configured one (left open on close). */
  database?: Database
  /** An object store to use instead of opening the configured one (left open on close). */
  objectStore?: ObjectStore
  logger?: FastifyServerOptions['logger']
  recorder?: RecorderPluginOptions
  keys?: KeysPluginOptions
}

export async function buildApp (config: Config, overrides: AppOverrides = {}) {
  const app = Fastify({
    logger: overrides.logger ?? {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers["x-twilio-signature"]']
    },
    // Unknown fields are an error the client should hear about, not something to drop silently.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    forceCloseConnections: 'idle',
    // One line per request instead of two: plugins/core.ts logs it when the reply is sent.
    logController: new LogController({ disableRequestLogging: true })
  }).withTypeProvider<TypeBoxTypeProvider>()

  try {
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
    await app.register(sweeperPlugin)

    app.setErrorHandler(async (error: FastifyError, request, reply) => {
      const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
      if (status >= 500) {
        request.log.error({ err: error }, 'request failed')
        return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' })
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
    await app.register(twilioRoutes, { prefix: '/twilio' })
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
