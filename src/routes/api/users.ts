import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { readScope, requireRole } from '../../auth/principal.js'
import { createUserWithKey, revokeUserAccess, rotateUserKey } from '../../auth/users.js'
import { findUser, tenantExists } from '../../db/users.js'
import { ROLES } from '../../db/schema.js'
import { errorReplies, Forbidden, NotFound } from '../../errors.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const KeyReply = Type.Object({ id: Type.String(), apiKey: Type.String({ description: 'shown once; only its hash is stored' }) })

const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database
  const users = { db, clock: app.clock }

  app.get('/me', {
    schema: {
      summary: 'Who this API key belongs to: role and tenant (the console shows only what the role may use)',
      tags: ['users'],
      response: { 200: Type.Object({ userId: Type.Union([Type.String(), Type.Null()]), tenantId: Type.Union([Type.String(), Type.Null()]), role: Type.String(), actor: Type.String(), name: Type.Union([Type.String(), Type.Null()]) }), ...errorReplies }
    }
  }, async (request) => {
    const { userId, tenantId, role, actor } = request.principal
    const user = userId === null ? null : await findUser(db, userId, tenantId)
    return { userId, tenantId, role, actor, name: user?.name ?? null }
  })

  app.post('/users', {
    schema: {
      summary: 'Create a user and its API key',
      tags: ['users'],
      body: Type.Object({
        tenantId: Type.String({ format: 'uuid' }),
        role: Type.Union(ROLES.map((r) => Type.Literal(r))),
        name: Type.String({ minLength: 1, maxLength: 200 }),
        email: Type.String({ format: 'email', maxLength: 320 })
      }, { additionalProperties: false }),
      response: { 201: KeyReply, ...errorReplies }
    }
  }, async (request, reply) => {
    requireRole(request.principal)
    const { tenantId, role, name, email } = request.body
    if (!await tenantExists(db, tenantId)) throw new NotFound('body/tenantId')
    const issued = await createUserWithKey(users, { tenantId, role, name, email }, request.principal.actor)
    request.log.info({ userId: issued.id, tenantId, role }, 'user created')
    return reply.code(201).send(issued)
  })

  app.post('/users/:id/rotate-key', {
    schema: { summary: 'Replace a user\'s API key (the old one stops working at once)', tags: ['users'], params: IdParams, response: { 200: KeyReply, ...errorReplies } }
  }, async (request) => {
    const { principal } = request
    const user = await findUser(db, request.params.id, readScope(principal))
    if (user === null || user.revokedAt !== null) throw new NotFound('user')
    if (principal.role !== 'admin' && principal.userId !== user.id) throw new Forbidden('only an admin or the key\'s owner may rotate it')
    const issued = await rotateUserKey(users, user, principal.actor)
    request.log.info({ userId: user.id }, 'API key rotated')
    return issued
  })

  app.delete('/users/:id', {
    schema: { summary: 'Revoke a user (its key stops working at once)', tags: ['users'], params: IdParams, response: { 204: Type.Null(), ...errorReplies } }
  }, async (request, reply) => {
    requireRole(request.principal)
    const user = await findUser(db, request.params.id, null)
    if (user === null) throw new NotFound('user')
    await revokeUserAccess(users, user, request.principal.actor)
    request.log.info({ userId: request.params.id }, 'user revoked')
    return reply.code(204).send(null)
  })
}

export default userRoutes
