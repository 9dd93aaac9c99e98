import type { FastifyPluginAsync } from 'fastify'
import campaignRoutes from './campaigns.js'
import userRoutes from './users.js'

/** The admin API: every route needs `Authorization: Bearer <api key>`. */
const apiRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', app.authenticate)
  await app.register(userRoutes)
  await app.register(campaignRoutes)
}

export default apiRoutes
