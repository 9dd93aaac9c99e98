import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { readScope, requireRole } from '../../auth/principal.js'
import { E164 } from '../../campaigns/schema.js'
import { deleteNumber, listNumbers } from '../../db/numbers.js'
import { errorReplies, NotFound, upstreamErrorReplies } from '../../errors.js'
import { bindNumber } from '../../numbers/bind.js'

const NumberSchema = Type.Object({ id: Type.String(), tenantId: Type.String(), number: Type.String(), campaignId: Type.String(), flowId: Type.String(), createdAt: Type.String() })

/** The tenant's Twilio numbers, each bound to a campaign and the flow its calls run. */
const numberRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database

  app.post('/numbers', {
    schema: {
      summary: 'Bind a Twilio number to a campaign and flow (configureTwilio: also point it at this server at Twilio)',
      tags: ['numbers'],
      body: Type.Object({
        number: E164,
        campaignId: Type.String({ format: 'uuid' }),
        flowId: Type.String({ format: 'uuid' }),
        configureTwilio: Type.Optional(Type.Boolean({ description: 'set the number\'s VoiceUrl, StatusCallback and VoiceFallbackUrl at Twilio to this server\'s (POST)' }))
      }, { additionalProperties: false }),
      response: { 201: NumberSchema, ...errorReplies, ...upstreamErrorReplies }
    }
  }, async (request, reply) => {
    const created = await bindNumber({
      db,
      twilio: app.twilio,
      publicUrl: app.config.publicUrl,
      now: () => app.clock.now(),
      rememberSwitchboard: (number, switchboard) => { app.switchboards.set(number, switchboard) }
    }, request.principal, request.body)
    return reply.code(201).send(created)
  })

  app.get('/numbers', { schema: { summary: 'List numbers (ops)', tags: ['numbers'], response: { 200: Type.Array(NumberSchema), ...errorReplies } } },
    async (request) => {
      requireRole(request.principal, 'ops')
      return await listNumbers(db, readScope(request.principal))
    })

  app.delete('/numbers/:id', {
    schema: { summary: 'Unbind a number', tags: ['numbers'], params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 204: Type.Null(), ...errorReplies } }
  }, async (request, reply) => {
    requireRole(request.principal, 'ops')
    if (!await deleteNumber(db, request.params.id, readScope(request.principal))) throw new NotFound('number')
    return reply.code(204).send(null)
  })
}

export default numberRoutes
