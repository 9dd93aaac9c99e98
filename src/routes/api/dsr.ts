import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { appendAudit } from '../../audit/append.js'
import { readScope, requireRole, writeTenant, type Principal } from '../../auth/principal.js'
import { E164 } from '../../campaigns/schema.js'
import { isRestricted } from '../../db/dsr.js'
import { findDsr, insertDsr, subjectData, updateDsr } from '../../db/subject-data.js'
import { tenantExists } from '../../db/users.js'
import { accessExport, erase, rectify, type DsrDeps } from '../../dsr/run.js'
import { BadRequest, Conflict, errorReplies, NotFound } from '../../errors.js'
import { hashNumber } from '../../privacy/number-hash.js'

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

type DsrRow = Awaited<ReturnType<typeof insertDsr>>
const view = (row: DsrRow) => ({ id: row.id, type: row.type, status: row.status, requestedBy: row.requestedBy, createdAt: row.createdAt.toISOString(), completedAt: row.completedAt?.toISOString() ?? null, result: row.result })

/** Data-subject requests (GDPR Art. 15–18): access, erasure, restriction, rectification. */
const dsrRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database
  const deps: DsrDeps = { db, store: app.objectStore, clock: app.clock, publicUrl: app.config.publicUrl, linkSecret: app.config.linkSecret }

  app.post('/dsr', {
    schema: {
      summary: 'Run a data-subject request for a phone number',
      tags: ['dsr'],
      body: Type.Object({
        type: Type.Union([Type.Literal('access'), Type.Literal('erasure'), Type.Literal('restriction'), Type.Literal('rectification')]),
        number: E164,
        corrections: Type.Optional(Type.Record(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,63}$' }), Type.String({ maxLength: 1000 }), { description: 'rectification: attribute → corrected value' })),
        tenantId: Type.Optional(Type.String({ format: 'uuid', description: 'admin only' }))
      }, { additionalProperties: false }),
      response: { 201: DsrSchema, ...errorReplies }
    }
  }, async (request, reply) => {
    const { principal } = request
    requireRole(principal, 'controller')
    const tenantId = writeTenant(principal, request.body.tenantId)
    if (!await tenantExists(db, tenantId)) throw new NotFound('body/tenantId')
    const { type, number, corrections } = request.body
    if (type === 'rectification' && (corrections === undefined || Object.keys(corrections).length === 0)) throw new BadRequest('body/corrections is required for rectification')
    const numberHash = hashNumber(app.config.numberHashKey, number)
    const now = app.clock.now()
    if (type === 'restriction' && await isRestricted(db, tenantId, numberHash)) throw new Conflict('the number is already restricted')

    let exported: unknown
    let recordingIds: string[] = []
    const row = await db.transaction(async (tx) => {
      const data = await subjectData(tx, tenantId, numberHash)
      recordingIds = data.recordings.map((r) => r.id)
      const created = await insertDsr(tx, { tenantId, type, numberHash, status: 'in-progress', requestedBy: principal.userId, createdAt: now })
      let result: Record<string, unknown>
      let status = 'completed'
      // Requests that are done with the number stop naming it; a restriction needs it to work.
      let keepHash = false
      switch (type) {
        case 'access': {
          const out = await accessExport(deps, tx, number, data, principal.actor)
          exported = out
          result = { calls: data.calls.length, events: data.events.length, consents: data.consents.length, recordings: data.recordings.length, suppressed: data.suppressions.length > 0 }
          break
        }
        case 'erasure':
          result = await erase(deps, tx, tenantId, numberHash, data)
          break
        case 'restriction':
          result = { calls: data.calls.length }
          status = 'active'
          keepHash = true
          break
        case 'rectification':
          result = await rectify(tx, data, corrections!)
          break
        default: {
          const unknown: never = type
          throw new BadRequest(`body/type ${String(unknown)} is not supported`)
        }
      }
      const done = await updateDsr(tx, created.id, { status, result, completedAt: status === 'completed' ? now : null, ...(keepHash ? {} : { numberHash: 'completed' }) })
      await appendAudit(tx, { tenantId, actor: principal.actor, action: `dsr.${type}`, subject: `dsr:${created.id}`, details: result, at: now })
      return done
    })
    if (type === 'erasure') await app.recorder.discardErased(recordingIds)
    return reply.code(201).send({ ...view(row), ...(exported !== undefined ? { export: exported } : {}) })
  })

  async function ownRequest (principal: Principal, id: string) {
    const row = await findDsr(db, id, readScope(principal))
    if (row === null) throw new NotFound('request')
    requireRole(principal, 'controller')
    return row
  }

  app.get('/dsr/:id', {
    schema: { summary: 'A data-subject request: status, requester, times, result summary', tags: ['dsr'], params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 200: DsrSchema, ...errorReplies } }
  }, async (request) => {
    return view(await ownRequest(request.principal, request.params.id))
  })

  app.post('/dsr/:id/lift', {
    schema: { summary: 'Lift a restriction', tags: ['dsr'], params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 200: DsrSchema, ...errorReplies } }
  }, async (request) => {
    const row = await ownRequest(request.principal, request.params.id)
    if (row.type !== 'restriction' || row.status !== 'active') throw new Conflict('only a restriction in force can be lifted')
    const now = app.clock.now()
    const lifted = await db.transaction(async (tx) => {
      const updated = await updateDsr(tx, row.id, { status: 'lifted', completedAt: now, numberHash: 'lifted' })
      await appendAudit(tx, { tenantId: row.tenantId, actor: request.principal.actor, action: 'dsr.lift', subject: `dsr:${row.id}`, details: {}, at: now })
      return updated
    })
    return view(lifted)
  })
}

export default dsrRoutes
