import type { FastifyPluginAsync } from 'fastify'
import { CsvTooLarge, tooLargeMessage } from '../../csv/lines.js'
import auditRoutes from './audit.js'
import contactRoutes from './contacts.js'
import diallerRoutes from './dialler.js'
import callRoutes from './calls.js'
import dsrRoutes from './dsr.js'
import recordingRoutes from './recordings.js'
import suppressionRoutes from './suppressions.js'
import campaignRoutes from './campaigns.js'
import flowRoutes from './flows.js'
import numberRoutes from './numbers.js'
import tenantRoutes from './tenants.js'
import userRoutes from './users.js'
import webhookRoutes from './webhooks.js'

/** The admin API: every route needs `Authorization: Bearer <api key>`. */
const apiRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', app.authenticate)
  // CSV bodies (suppression lists, contact lists, screening) are handed over as a stream: an
  // import of millions of lines is read a chunk at a time. Fastify's bodyLimit applies only to
  // bodies it reads itself, so csvLineChunks counts the bytes (and bounds each line); a body
  // declared too large is refused before any is read.
  const { csvMaxBytes } = app.config
  app.addContentTypeParser('text/csv', (request, payload, done) => {
    if (Number(request.headers['content-length'] ?? 0) > csvMaxBytes) done(new CsvTooLarge(tooLargeMessage(csvMaxBytes)))
    else done(null, payload)
  })
  await app.register(tenantRoutes)
  await app.register(userRoutes)
  await app.register(campaignRoutes)
  await app.register(contactRoutes)
  await app.register(diallerRoutes)
  await app.register(flowRoutes)
  await app.register(numberRoutes)
  await app.register(callRoutes)
  await app.register(recordingRoutes)
  await app.register(dsrRoutes)
  await app.register(auditRoutes)
  await app.register(suppressionRoutes)
  await app.register(webhookRoutes)
}

export default apiRoutes
