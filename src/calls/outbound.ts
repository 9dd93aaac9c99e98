import { appendAudit } from '../audit/append.js'
import { readScope, requireRole, type Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import { findCampaign } from '../db/campaigns.js'
import type { Db } from '../db/client.js'
import { insertCall } from '../db/calls.js'
import { findFlow } from '../db/flows.js'
import { callerIdFor } from '../db/numbers.js'
import { isOffboarding } from '../db/offboardings.js'
import { recordAttempt } from '../db/suppressions.js'
import { BadRequest, Conflict, NotCallable, NotFound, TwilioApiFailed } from '../errors.js'
import { initialCallState, isOpen } from '../flows/index.js'
import { hashNumber } from '../privacy/number-hash.js'
import { screenNumbers } from '../suppression/screen.js'
import type { TwilioCalls } from '../twilio/rest.js'

export interface OutboundDeps {
  db: Db
  /** null: no Twilio account is configured, so nothing can be dialled. */
  twilio: Pick<TwilioCalls, 'placeCall'> | null
  clock: Clock
  config: Pick<Config, 'numberHashKey' | 'publicUrl'>
}

export interface OutboundRequest { to: string, campaignId: string, flowId: string }
export interface PlacedCall { callSid: string, to: string, from: string, status: string }

/**
 * Outbound placement: every check runs before anyone dials (tenant scope, role, published flow,
 * offboarding, suppression / restriction / registry / cap screening, end date, calling hours,
 * a caller id), then Twilio is asked to dial and the call row is written.
 */
export function createOutbound ({ db, twilio, clock, config }: OutboundDeps) {
  async function place (principal: Principal, request: OutboundRequest): Promise<PlacedCall> {
    const scope = readScope(principal)
    // Loaded before the role check: another tenant's campaign is a 404 whatever the caller's role.
    const campaign = await findCampaign(db, request.campaignId, scope)
    if (campaign === null) throw new NotFound('body/campaignId')
    const flow = await findFlow(db, request.flowId, scope)
    if (flow === null || flow.campaignId !== campaign.id) throw new NotFound('body/flowId')
    requireRole(principal, 'agent', 'ops')
    if (flow.publishedVersion === null) throw new Conflict('the flow has no published version')
    if (await isOffboarding(db, campaign.tenantId)) throw new Conflict('the tenant is being offboarded: no new calls')
    const now = clock.now()
    const [screened] = await screenNumbers(db, config.numberHashKey, campaign.tenantId, campaign, [request.to], now)
    if (screened!.reason === 'invalid') throw new BadRequest(`body/to "${request.to}" is not a phone number${campaign.defaultCountry === null ? ' (the campaign has no defaultCountry for national numbers)' : ''}`)
    if (!screened!.callable) throw new NotCallable(screened!.reason!)
    if (campaign.endsAt !== null && now >= new Date(campaign.endsAt)) throw new NotCallable('ended')
    if (!isOpen(campaign, now)) throw new NotCallable('hours')
    const from = await callerIdFor(db, campaign.id, flow.id)
    if (from === null) throw new Conflict('the campaign has no number to call from')
    if (twilio === null) throw new Conflict('TWILIO_ACCOUNT_SID is not configured, so calls cannot be placed')
    const to = screened!.number!
    const remoteHash = hashNumber(config.numberHashKey, to)
    // The attempt counts against the cap whether or not Twilio then connects it.
    await recordAttempt(db, { tenantId: campaign.tenantId, campaignId: campaign.id, numberHash: remoteHash, at: now })
    let placed
    try {
      placed = await twilio.placeCall({ to, from, url: `${config.publicUrl}/twilio/voice`, statusCallback: `${config.publicUrl}/twilio/status` })
    } catch (err) {
      throw new TwilioApiFailed('Twilio did not place the call', { cause: err })
    }
    // The call row exists before Twilio's webhook, so the answered call runs this flow and version.
    await db.transaction(async (tx) => {
      await insertCall(tx, { tenantId: campaign.tenantId, callSid: placed.sid, direction: 'outbound', campaignId: campaign.id, flowId: flow.id, flowVersion: flow.publishedVersion, remoteHash, remoteNumber: campaign.storeCallerNumber ? to : null, remoteWithheld: false, localNumber: from, status: placed.status, state: initialCallState(), startedAt: now })
      await appendAudit(tx, { tenantId: campaign.tenantId, actor: principal.actor, action: 'call.place', subject: `call:${placed.sid}`, details: { campaignId: campaign.id, flowId: flow.id }, at: now })
    })
    return { callSid: placed.sid, to, from, status: placed.status }
  }

  return { place }
}

export type Outbound = ReturnType<typeof createOutbound>
