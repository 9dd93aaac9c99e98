import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { hashApiKey, sameToken } from '../auth/api-keys.js'
import type { Principal } from '../auth/principal.js'
import { findActiveUserByKeyHash } from '../db/users.js'
import { Unauthorized } from '../errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for routes that need an API key. */
    authenticate (request: FastifyRequest): Promise<void>
  }
  interface FastifyRequest {
    principal: Principal
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

export default fp(async (app) => {
  app.decorateRequest('principal', null as unknown as Principal)
  app.decorate('authenticate', async (request: FastifyRequest) => {
    const match = BEARER.exec(request.headers.authorization ?? '')
    if (match === null) throw new Unauthorized()
    const key = match[1]!
    if (sameToken(key, app.config.adminToken)) {
      request.principal = { userId: null, tenantId: null, role: 'admin', actor: 'admin-token' }
      return
    }
    // Looked up on every request, never cached: a revoked or rotated key stops working at once.
    const user = await findActiveUserByKeyHash(app.database.db, hashApiKey(key))
    if (user === null) throw new Unauthorized()
    request.principal = { userId: user.id, tenantId: user.tenantId, role: user.role, actor: `user:${user.id}` }
  })
}, { name: 'auth', dependencies: ['core', 'database'] })
