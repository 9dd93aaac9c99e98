import { createHash, randomBytes } from 'node:crypto'
import { Type, type Static } from 'typebox'
import { appendAudit } from '../audit/append.js'
import { readScope, requireRole, type Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import type { Db } from '../db/client.js'
import { appendCallEvent, findCallBySid, hasGrantedConsent, insertConsent, insertStreamToken } from '../db/calls.js'
import { isRestricted } from '../db/dsr.js'
import { expireStreamTokens, insertControl, liveRecordingOf } from '../db/recordings.js'
import { BadRequest, Conflict, NotFound, TwilioApiFailed } from '../errors.js'
import { emit } from '../events/emit.js'
import { RECORDING_STREAM_NAME } from '../flows/index.js'
import type { TwilioCalls } from '../twilio/rest.js'
import { streamUrl } from '../twilio/urls.js'

// What the evidence says when an agent records on the caller's spoken agreement.
export const VERBAL_CONSENT_PROMPT = 'record after the caller agreed on the line'

export const ControlRequestSchema = Type.Object({
  action: Type.Union([Type.Literal('start'), Type.Literal('pause'), Type.Literal('resume'), Type.Literal('stop')]),
  attestation: Type.Optional(Type.Literal('verbal', { description: 'start without IVR consent: the agent attests the caller agreed on the line' }))
}, { additionalProperties: false })
export type ControlRequest = Static<typeof ControlRequestSchema>

export const ControlResultSchema = Type.Object({ callSid: Type.String(), action: Type.String(), at: Type.String(), recordingId: Type.Optional(Type.String()) })
export type ControlResult = Static<typeof ControlResultSchema>

export interface RecordingControlDeps {
  db: Db
  /** null: no Twilio account is configured, so no stream can be started on a live call. */
  twilio: Pick<TwilioCalls, 'startStream'> | null
  clock: Clock
  publicUrl: string
}

/**
 * Agent recording controls. Pause, resume and stop are requests the recorder picks up (a
 * control row); start needs consent (the IVR's, or the agent's attestation of a verbal one,
 * stored as evidence) and no data-subject restriction, then asks Twilio for a media stream.
 */
export function createRecordingControls ({ db, twilio, clock, publicUrl }: RecordingControlDeps) {
  async function control (principal: Principal, callSid: string, { action, attestation }: ControlRequest): Promise<ControlResult> {
    const call = await findCallBySid(db, callSid, readScope(principal))
    if (call === null) throw new NotFound('call')
    requireRole(principal, 'agent', 'ops')
    const at = clock.now()
    if (call.endedAt !== null) throw new Conflict('the call has ended')
    const live = await liveRecordingOf(db, call.callSid)

    if (action !== 'start') {
      if (live === null) throw new Conflict('the call has no live recording')
      await db.transaction(async (tx) => {
        await insertControl(tx, { tenantId: call.tenantId, recordingId: live.id, action, at, createdBy: principal.userId })
        await appendCallEvent(tx, call.callSid, { node: null, input: null, outcome: `recording-${action}-requested` }, at)
        await appendAudit(tx, { tenantId: call.tenantId, actor: principal.actor, action: `recording.${action}`, subject: `call:${call.callSid}`, details: { recordingId: live.id }, at })
      })
      return { callSid: call.callSid, action, at: at.toISOString(), recordingId: live.id }
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
        await emit(tx, { type: 'consent.recorded', tenantId: call.tenantId, at, data: { callSid: call.callSid, decision: 'granted', node: 'agent', flowVersion: call.flowVersion } })
      }
      await insertStreamToken(tx, { tokenHash: createHash('sha256').update(token).digest('hex'), tenantId: call.tenantId, callSid: call.callSid, at })
      await appendCallEvent(tx, call.callSid, { node: null, input: consented ? 'ivr' : 'verbal', outcome: 'recording-start-requested' }, at)
      await appendAudit(tx, { tenantId: call.tenantId, actor: principal.actor, action: 'recording.start', subject: `call:${call.callSid}`, details: { consent: consented ? 'ivr' : 'verbal' }, at })
    })
    try {
      await twilio.startStream(call.callSid, { url: streamUrl(publicUrl), name: RECORDING_STREAM_NAME, token })
    } catch (err) {
      // The token Twilio never received must not stay usable.
      await expireStreamTokens(db, call.callSid, clock.now())
      throw new TwilioApiFailed('Twilio did not start the stream', { cause: err })
    }
    return { callSid: call.callSid, action, at: at.toISOString() }
  }

  return { control }
}

export type RecordingControls = ReturnType<typeof createRecordingControls>
