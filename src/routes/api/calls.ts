import { createHash, randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { appendAudit } from '../../audit/append.js'
import { readScope, requireRole, writeTenant } from '../../auth/principal.js'
import { listCalls } from '../../db/call-list.js'
import { appendCallEvent, callDetail, findCallBySid, insertCall, hasGrantedConsent, insertConsent, insertStreamToken } from '../../db/calls.js'
import { isRestricted } from '../../db/dsr.js'
import { expireStreamTokens, insertControl, liveRecordingOf } from '../../db/recordings.js'
import { findCampaign } from '../../db/campaigns.js'
import { findFlow } from '../../db/flows.js'
import { callerIdFor } from '../../db/numbers.js'
import { isOffboarding } from '../../db/offboardings.js'
import { recordAttempt } from '../../db/suppressions.js'
import { tenantExists } from '../../db/users.js'
import { BadRequest, Conflict, errorReplies, NotCallable, NotFound } from '../../errors.js'
import { initialCallState, isOpen, RECORDING_STREAM_NAME } from '../../flows/index.js'
import { hashNumber } from '../../privacy/number-hash.js'
import { normalizeNumber } from '../../privacy/phone.js'
import { screenNumbers } from '../../suppression/screen.js'
import { createTwilioCalls } from '../../twilio/rest.js'
import { dateRange, QueryDateTime, QueryInteger } from '../query-params.js'
import { streamUrl } from '../../twilio/urls.js'

// What the evidence says when an agent records on the caller's spoken agreement.
export const VERBAL_CONSENT_PROMPT = 'record after the caller agreed on the line'

const ControlBody = Type.Object({
  action: Type.Union([Type.Literal('start'), Type.Literal('pause'), Type.Literal('resume'), Type.Literal('stop')]),
  attestation: Type.Optional(Type.Literal('verbal', { description: 'start without IVR consent: the agent attests the caller agreed on the line' }))
}, { additionalProperties: false })

const ControlReply = Type.Object({ callSid: Type.String(), action: Type.String(), at: Type.String(), recordingId: Type.Optional(Type.String()) })

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
  const twilio = createTwilioCalls(app.config)

  app.post('/calls', {
    schema: {
      summary: 'Place an outbound call: screened (suppression, restriction, registry, cap, hours) before anyone dials',
      tags: ['calls'],
      body: Type.Object({ to: Type.String({ minLength: 1, maxLength: 40 }), campaignId: Type.String({ format: 'uuid' }), flowId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
      response: { 201: Type.Object({ callSid: Type.String(), to: Type.String(), from: Type.String(), status: Type.String() }), ...errorReplies, 502: Type.Ref('ErrorReply') }
    }
  }, async (request, reply) => {
    const { principal } = request
    const scope = readScope(principal)
    const campaign = await findCampaign(db, request.body.campaignId, scope)
    if (campaign === null) throw new NotFound('body/campaignId')
    const flow = await findFlow(db, request.body.flowId, scope)
    if (flow === null || flow.campaignId !== campaign.id) throw new NotFound('body/flowId')
    requireRole(principal, 'agent', 'ops')
    if (flow.publishedVersion === null) throw new Conflict('the flow has no published version')
    if (await isOffboarding(db, campaign.tenantId)) throw new Conflict('the tenant is being offboarded: no new calls')
    const now = app.clock.now()
    const [screened] = await screenNumbers(db, app.config.numberHashKey, campaign.tenantId, campaign, [request.body.to], now)
    if (screened!.reason === 'invalid') throw new BadRequest(`body/to "${request.body.to}" is not a phone number${campaign.defaultCountry === null ? ' (the campaign has no defaultCountry for national numbers)' : ''}`)
    if (!screened!.callable) throw new NotCallable(screened!.reason!)
    if (campaign.endsAt !== null && now >= new Date(campaign.endsAt)) throw new NotCallable('ended')
    if (!isOpen(campaign, now)) throw new NotCallable('hours')
    const from = await callerIdFor(db, campaign.id, flow.id)
    if (from === null) throw new Conflict('the campaign has no number to call from')
    if (twilio === null) throw new Conflict('TWILIO_ACCOUNT_SID is not configured, so calls cannot be placed')
    const to = screened!.number!
    const remoteHash = hashNumber(app.config.numberHashKey, to)
    // The attempt counts against the cap whether or not Twilio then connects it.
    await recordAttempt(db, { tenantId: campaign.tenantId, campaignId: campaign.id, numberHash: remoteHash, at: now })
    let placed
    try {
      placed = await twilio.placeCall({ to, from, url: `${app.config.publicUrl}/twilio/voice`, statusCallback: `${app.config.publicUrl}/twilio/status` })
    } catch (err) {
      request.log.error({ err }, 'Twilio refused to place the call')
      return reply.code(502).send({ statusCode: 502, code: 'CG_TWILIO_API', error: 'Bad Gateway', message: 'Twilio did not place the call' })
    }
    // The call row exists before Twilio's webhook, so the answered call runs this flow and version.
    await db.transaction(async (tx) => {
      await insertCall(tx, { tenantId: campaign.tenantId, callSid: placed.sid, direction: 'outbound', campaignId: campaign.id, flowId: flow.id, flowVersion: flow.publishedVersion, remoteHash, remoteNumber: campaign.storeCallerNumber ? to : null, remoteWithheld: false, localNumber: from, status: placed.status, state: initialCallState(), startedAt: now })
      await appendAudit(tx, { tenantId: campaign.tenantId, actor: principal.actor, action: 'call.place', subject: `call:${placed.sid}`, details: { campaignId: campaign.id, flowId: flow.id }, at: now })
    })
    return reply.code(201).send({ callSid: placed.sid, to, from, status: placed.status })
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
      await db.transaction((tx) => appendAudit(tx, { tenantId: scope!, actor: principal.actor, action: 'call.search', subject: null, details: { results: page.calls.length }, at: app.clock.now() }))
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
    await db.transaction((tx) => appendAudit(tx, { tenantId: call.tenantId, actor: principal.actor, action: 'call.read', subject: `call:${call.callSid}`, details: {}, at: app.clock.now() }))
    return detail
  })

  app.post('/calls/:sid/recording', {
    schema: {
      summary: 'Agent recording controls: start (needs consent), pause, resume, stop',
      tags: ['calls'],
      params: Type.Object({ sid: Type.String({ pattern: '^CA[0-9a-fA-F]{32}$' }) }),
      body: ControlBody,
      response: { 202: ControlReply, ...errorReplies, 502: Type.Ref('ErrorReply') }
    }
  }, async (request, reply) => {
    const { principal } = request
    const call = await findCallBySid(db, request.params.sid, readScope(principal))
    if (call === null) throw new NotFound('call')
    requireRole(principal, 'agent', 'ops')
    const { action, attestation } = request.body
    const at = app.clock.now()
    if (call.endedAt !== null) throw new Conflict('the call has ended')
    const live = await liveRecordingOf(db, call.callSid)

    if (action !== 'start') {
      if (live === null) throw new Conflict('the call has no live recording')
      await db.transaction(async (tx) => {
        await insertControl(tx, { tenantId: call.tenantId, recordingId: live.id, action, at, createdBy: principal.userId })
        await appendCallEvent(tx, call.callSid, { node: null, input: null, outcome: `recording-${action}-requested` }, at)
        await appendAudit(tx, { tenantId: call.tenantId, actor: principal.actor, action: `recording.${action}`, subject: `call:${call.callSid}`, details: { recordingId: live.id }, at })
      })
      return reply.code(202).send({ callSid: call.callSid, action, at: at.toISOString(), recordingId: live.id })
    }

    if (live !== null) throw new Conflict('the call is already being recorded')
    if (await isRestricted(db, call.tenantId, call.remoteHash)) throw new Conflict('the number is under a data-subject restriction: it can never be recorded')
    const consented = await hasGrantedConsent(db, call.id)
    if (!consented && attestation !== 'verbal') throw new BadRequest('body/attestation "verbal" is required: this call has no recording consent from the IVR')
    if (twilio === null) throw new Conflict('TWILIO_ACCOUNT_SID is not configured, so a stream cannot be started on a live call')
    const token = randomBytes(24).toString('base64url')
    await db.transaction(async (tx) => {
      if (!consented) {
        await insertConsent(tx, { tenantId: call.tenantId, callId: call.id, callSid: call.callSid, remoteHash: call.remoteHash, campaignId: call.campaignId, flowId: call.flowId, flowVersion: call.flowVersion, node: 'agent', prompt: VERBAL_CONSENT_PROMPT, digits: null, decision: 'granted', granted: true, method: 'verbal', attestedBy: principal.userId, at })
      }
      await insertStreamToken(tx, { tokenHash: createHash('sha256').update(token).digest('hex'), tenantId: call.tenantId, callSid: call.callSid, at })
      await appendCallEvent(tx, call.callSid, { node: null, input: consented ? 'ivr' : 'verbal', outcome: 'recording-start-requested' }, at)
      await appendAudit(tx, { tenantId: call.tenantId, actor: principal.actor, action: 'recording.start', subject: `call:${call.callSid}`, details: { consent: consented ? 'ivr' : 'verbal' }, at })
    })
    try {
      await twilio.startStream(call.callSid, { url: streamUrl(app.config.publicUrl), name: RECORDING_STREAM_NAME, token })
    } catch (err) {
      request.log.error({ err, callSid: call.callSid }, 'Twilio refused to start the stream')
      await expireStreamTokens(db, call.callSid, app.clock.now())
      return reply.code(502).send({ statusCode: 502, code: 'CG_TWILIO_API', error: 'Bad Gateway', message: 'Twilio did not start the stream' })
    }
    return reply.code(202).send({ callSid: call.callSid, action, at: at.toISOString() })
  })
}

export default callRoutes
