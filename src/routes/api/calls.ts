import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { audited } from '../../audit/audited.js'
import { readScope, requireRole, writeTenant } from '../../auth/principal.js'
import { createOutbound } from '../../calls/outbound.js'
import { listCalls } from '../../db/call-list.js'
import { callDetail, findCallBySid } from '../../db/calls.js'
import { tenantExists } from '../../db/users.js'
import { BadRequest, errorReplies, NotFound, upstreamErrorReplies } from '../../errors.js'
import { hashNumber } from '../../privacy/number-hash.js'
import { normalizeNumber } from '../../privacy/phone.js'
import { ControlRequestSchema, ControlResultSchema, createRecordingControls } from '../../recording/controls.js'
import { dateRange, QueryDateTime, QueryInteger } from '../query-params.js'

// What the list and the detail both say of a call.
const callFields = {
  callSid: Type.String(),
  direction: Type.String(),
  status: Type.String(),
  campaignId: Type.Union([Type.String(), Type.Null()]),
  flowId: Type.Union([Type.String(), Type.Null()]),
  flowVersion: Type.Union([Type.Integer(), Type.Null()]),
  ourNumber: Type.String(),
  callerNumber: Type.Union([Type.String(), Type.Null()]),
  startedAt: Type.String(),
  endedAt: Type.Union([Type.String(), Type.Null()]),
  durationSeconds: Type.Union([Type.Integer(), Type.Null()])
}

const CallDetail = Type.Object({
  ...callFields,
  attributes: Type.Record(Type.String(), Type.String()),
  events: Type.Array(Type.Object({ seq: Type.Integer(), node: Type.Union([Type.String(), Type.Null()]), input: Type.Union([Type.String(), Type.Null()]), outcome: Type.String(), at: Type.String() })),
  consents: Type.Array(Type.Object({ decision: Type.String(), granted: Type.Boolean(), method: Type.String(), node: Type.String(), prompt: Type.String(), digits: Type.Union([Type.String(), Type.Null()]), flowVersion: Type.Union([Type.Integer(), Type.Null()]), attestedBy: Type.Union([Type.String(), Type.Null()]), at: Type.String() })),
  recordings: Type.Array(Type.Object({ id: Type.String(), status: Type.String(), durationMs: Type.Union([Type.Integer(), Type.Null()]), createdAt: Type.String(), retainUntil: Type.Union([Type.String(), Type.Null()]), legalHold: Type.Boolean(), truncated: Type.Boolean({ description: 'recovered after its process died mid-call: durationMs is what was saved' }) }))
})

const CallListQuery = Type.Object({
  number: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'the remote party, in international form (+…)' })),
  tenantId: Type.Optional(Type.String({ format: 'uuid', description: 'admin: only this tenant\'s calls (required with number)' })),
  from: Type.Optional(QueryDateTime('started at or after')),
  to: Type.Optional(QueryDateTime('started before')),
  outcome: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'the call status: completed, no-answer, busy, failed, in-progress…' })),
  limit: Type.Optional(QueryInteger({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$', description: 'nextCursor of the previous page' }))
}, { additionalProperties: false })

const CallSummary = Type.Object({ ...callFields, recordings: Type.Integer() })

// The cursor is the last row's sort key; base64url so it travels in a query string untouched.
const encodeCursor = (row: { startedAt: string, callSid: string }) => Buffer.from(`${row.startedAt}|${row.callSid}`).toString('base64url')
// Only what encodeCursor writes is read back: a forged date (year 0 or 275760) would reach PostgreSQL.
const CURSOR = /^([1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z)\|(CA[0-9a-fA-F]{32})$/
function decodeCursor (cursor: string): { startedAt: Date, callSid: string } {
  const parts = CURSOR.exec(Buffer.from(cursor, 'base64url').toString())
  const startedAt = new Date(parts?.[1] ?? '')
  if (parts === null || Number.isNaN(startedAt.getTime())) throw new BadRequest('querystring/cursor is not a cursor this API gave out')
  return { startedAt, callSid: parts[2]! }
}

const callRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database
  const twilio = app.twilio
  const outbound = createOutbound({ db, twilio, clock: app.clock, config: app.config })
  const controls = createRecordingControls({ db, twilio, clock: app.clock, publicUrl: app.config.publicUrl })

  app.post('/calls', {
    schema: {
      summary: 'Place an outbound call: screened (suppression, restriction, registry, cap, hours) before anyone dials',
      tags: ['calls'],
      body: Type.Object({ to: Type.String({ minLength: 1, maxLength: 40 }), campaignId: Type.String({ format: 'uuid' }), flowId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
      response: { 201: Type.Object({ callSid: Type.String(), to: Type.String(), from: Type.String(), status: Type.String() }), ...errorReplies, ...upstreamErrorReplies }
    }
  }, async (request, reply) => {
    return reply.code(201).send(await outbound.place(request.principal, request.body))
  })

  app.get('/calls', {
    schema: { summary: 'Calls, newest first, filtered by number, start time and outcome; page with cursor (audited read)', tags: ['calls'], querystring: CallListQuery, response: { 200: Type.Object({ calls: Type.Array(CallSummary), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorReplies } }
  }, async (request) => {
    const { principal } = request
    requireRole(principal, 'agent', 'controller')
    const q = request.query
    let remoteHash: string | undefined
    if (q.number !== undefined) {
      const number = normalizeNumber(q.number, null)
      if (number === null) throw new BadRequest(`querystring/number "${q.number}" is not a phone number in international form`)
      remoteHash = hashNumber(app.config.numberHashKey, number)
    }
    // A search by number is a lookup of a person, audited in the log of the tenant searched: an
    // admin (whose reads span every tenant) names the tenant to search by number in.
    const scope = principal.role === 'admin' ? q.tenantId ?? null : writeTenant(principal, q.tenantId, 'querystring/tenantId')
    if (remoteHash !== undefined && scope === null) throw new BadRequest('querystring/tenantId is required for an admin searching by number: the search is audited in that tenant\'s log')
    if (principal.role === 'admin' && scope !== null && !await tenantExists(db, scope)) throw new NotFound('querystring/tenantId')
    const limit = q.limit ?? 50
    const { from, to } = dateRange(q)
    const page = await listCalls(db, {
      tenantId: scope,
      limit,
      ...(remoteHash !== undefined ? { remoteHash } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(q.outcome !== undefined ? { status: q.outcome } : {}),
      ...(q.cursor !== undefined ? { before: decodeCursor(q.cursor) } : {})
    })
    // The log says that a search happened and who made it (the admin's too), not whom it sought.
    if (remoteHash !== undefined) {
      await audited(db, { tenantId: scope!, actor: principal.actor, action: 'call.search', subject: null, details: { results: page.calls.length }, at: app.clock.now() })
    }
    return { calls: page.calls, nextCursor: page.more ? encodeCursor(page.calls.at(-1)!) : null }
  })

  app.get('/calls/:sid', {
    schema: { summary: 'A call with its events, consent evidence and recordings (audited read)', tags: ['calls'], params: Type.Object({ sid: Type.String({ pattern: '^CA[0-9a-fA-F]{32}$' }) }), response: { 200: CallDetail, ...errorReplies } }
  }, async (request) => {
    const { principal } = request
    const call = await findCallBySid(db, request.params.sid, readScope(principal))
    if (call === null) throw new NotFound('call')
    requireRole(principal, 'agent', 'controller')
    const detail = await callDetail(db, call.id)
    await audited(db, { tenantId: call.tenantId, actor: principal.actor, action: 'call.read', subject: `call:${call.callSid}`, details: {}, at: app.clock.now() })
    return detail
  })

  app.post('/calls/:sid/recording', {
    schema: {
      summary: 'Agent recording controls: start (needs consent), pause, resume, stop',
      tags: ['calls'],
      params: Type.Object({ sid: Type.String({ pattern: '^CA[0-9a-fA-F]{32}$' }) }),
      body: ControlRequestSchema,
      response: { 202: ControlResultSchema, ...errorReplies, ...upstreamErrorReplies }
    }
  }, async (request, reply) => {
    return reply.code(202).send(await controls.control(request.principal, request.params.sid, request.body))
  })
}

export default callRoutes
