import { createHash, randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { appendAudit } from '../../audit/append.js'
import { readScope, requireRole } from '../../auth/principal.js'
import { appendCallEvent, callDetail, findCallBySid, hasGrantedConsent, insertConsent, insertStreamToken } from '../../db/calls.js'
import { isRestricted } from '../../db/dsr.js'
import { expireStreamTokens, insertControl, liveRecordingOf } from '../../db/recordings.js'
import { BadRequest, Conflict, errorReplies, NotFound } from '../../errors.js'
import { RECORDING_STREAM_NAME } from '../../flows/index.js'
import { createTwilioCalls } from '../../twilio/rest.js'
import { streamUrl } from '../../twilio/urls.js'

// What the evidence says when an agent records on the caller's spoken agreement.
export const VERBAL_CONSENT_PROMPT = 'record after the caller agreed on the line'

const ControlBody = Type.Object({
  action: Type.Union([Type.Literal('start'), Type.Literal('pause'), Type.Literal('resume'), Type.Literal('stop')]),
  attestation: Type.Optional(Type.Literal('verbal', { description: 'start without IVR consent: the agent attests the caller agreed on the line' }))
}, { additionalProperties: false })

const ControlReply = Type.Object({ callSid: Type.String(), action: Type.String(), at: Type.String(), recordingId: Type.Optional(Type.String()) })

const CallDetail = Type.Object({
  callSid: Type.String(),
  direction: Type.String(),
  status: Type.String(),
  campaignId: Type.Union([Type.String(), Type.Null()]),
  flowId: Type.Union([Type.String(), Type.Null()]),
  flowVersion: Type.Union([Type.Integer(), Type.Null()]),
  ourNumber: Type.String(),
  callerNumber: Type.Union([Type.String(), Type.Null()]),
  attributes: Type.Record(Type.String(), Type.String()),
  startedAt: Type.String(),
  endedAt: Type.Union([Type.String(), Type.Null()]),
  durationSeconds: Type.Union([Type.Integer(), Type.Null()]),
  events: Type.Array(Type.Object({ seq: Type.Integer(), node: Type.Union([Type.String(), Type.Null()]), input: Type.Union([Type.String(), Type.Null()]), outcome: Type.String(), at: Type.String() })),
  consents: Type.Array(Type.Object({ decision: Type.String(), granted: Type.Boolean(), method: Type.String(), node: Type.String(), prompt: Type.String(), digits: Type.Union([Type.String(), Type.Null()]), flowVersion: Type.Union([Type.Integer(), Type.Null()]), attestedBy: Type.Union([Type.String(), Type.Null()]), at: Type.String() })),
  recordings: Type.Array(Type.Object({ id: Type.String(), status: Type.String(), durationMs: Type.Union([Type.Integer(), Type.Null()]), createdAt: Type.String(), retainUntil: Type.Union([Type.String(), Type.Null()]), legalHold: Type.Boolean() }))
})

const callRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database
  const twilio = createTwilioCalls(app.config)

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
