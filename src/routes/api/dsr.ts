import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { E164 } from '../../campaigns/schema.js'
import { CorrectionsSchema, DsrTypeSchema } from '../../dsr/handlers.js'
import { createDsrRequests, type DsrRow } from '../../dsr/requests.js'
import { errorReplies } from '../../errors.js'

const DsrSchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  status: Type.String(),
  requestedBy: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  completedAt: Type.Union([Type.String(), Type.Null()]),
  result: Type.Unknown(),
  export: Type.Optional(Type.Unknown())
})

const view = (row: DsrRow) => ({ id: row.id, type: row.type, status: row.status, requestedBy: row.requestedBy, createdAt: row.createdAt.toISOString(), completedAt: row.completedAt?.toISOString() ?? null, result: row.result })

/** Data-subject requests (GDPR Art. 15–18): access, erasure, restriction, rectification. */
const dsrRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const requests = createDsrRequests({
    db: app.database.db,
    store: app.objectStore,
    clock: app.clock,
    publicUrl: app.config.publicUrl,
    linkSecret: app.config.linkSecret,
    numberHashKey: app.config.numberHashKey,
    recorder: app.recorder
  })

  app.post('/dsr', {
    schema: {
      summary: 'Run a data-subject request for a phone number',
      tags: ['dsr'],
      body: Type.Object({
        type: DsrTypeSchema,
        number: E164,
        corrections: Type.Optional(CorrectionsSchema),
        tenantId: Type.Optional(Type.String({ format: 'uuid', description: 'admin only' }))
      }, { additionalProperties: false }),
      response: { 201: DsrSchema, ...errorReplies }
    }
  }, async (request, reply) => {
    const done = await requests.submit(request.principal, request.body)
    return reply.code(201).send({ ...view(done.row), ...(done.export !== undefined ? { export: done.export } : {}) })
  })

  app.get('/dsr/:id', {
    schema: { summary: 'A data-subject request: status, requester, times, result summary', tags: ['dsr'], params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 200: DsrSchema, ...errorReplies } }
  }, async (request) => view(await requests.find(request.principal, request.params.id)))

  app.post('/dsr/:id/lift', {
    schema: { summary: 'Lift a restriction', tags: ['dsr'], params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 200: DsrSchema, ...errorReplies } }
  }, async (request) => view(await requests.lift(request.principal, request.params.id)))
}

export default dsrRoutes
