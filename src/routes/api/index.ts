import type { FastifyPluginAsync } from 'fastify'
import auditRoutes from './audit.js'
import callRoutes from './calls.js'
import dsrRoutes from './dsr.js'
import recordingRoutes from './recordings.js'
import suppressionRoutes from './suppressions.js'
import campaignRoutes from './campaigns.js'
import flowRoutes from './flows.js'
import numberRoutes from './numbers.js'
import tenantRoutes from './tenants.js'
import userRoutes from './users.js'

/** The admin API: every route needs `Authorization: Bearer <api key>`. */
const apiRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', app.authenticate)
  await app.register(tenantRoutes)
  await app.register(userRoutes)
  await app.register(campaignRoutes)
  await app.register(flowRoutes)
  await app.register(numberRoutes)
  await app.register(callRoutes)
  await app.register(recordingRoutes)
  await app.register(dsrRoutes)
  await app.register(auditRoutes)
  await app.register(suppressionRoutes)
}

export default apiRoutes
