import { readScope, requireRole, type Principal } from '../auth/principal.js'
import { findCampaign } from '../db/campaigns.js'
import type { Db } from '../db/client.js'
import { findFlow } from '../db/flows.js'
import { deleteNumber, insertNumber, tenantOfNumber } from '../db/numbers.js'
import { BadRequest, Conflict, NotFound, TwilioApiFailed } from '../errors.js'
import type { TwilioRest } from '../twilio/rest.js'

export interface BindDeps {
  db: Db
  twilio: Pick<TwilioRest, 'configureNumber'> | null
  publicUrl: string
  now (): Date
  /** Told the campaign's switchboard of a bound number, for the database-free fallback. */
  rememberSwitchboard (number: string, switchboard: string): void
}

export interface BindRequest { number: string, campaignId: string, flowId: string, configureTwilio?: boolean }

/**
 * Binds one of the tenant's Twilio numbers to a campaign and the flow its calls run; with
 * `configureTwilio`, also points the number at this server at Twilio (voice URL, status callback,
 * fallback URL). The binding is stored first, so a number held elsewhere is refused before
 * Twilio is touched; if Twilio then refuses, the binding is taken back: the number is bound and
 * configured, or neither.
 */
export async function bindNumber (deps: BindDeps, principal: Principal, request: BindRequest) {
  requireRole(principal, 'ops')
  const scope = readScope(principal)
  const campaign = await findCampaign(deps.db, request.campaignId, scope)
  if (campaign === null) throw new NotFound('body/campaignId')
  const flow = await findFlow(deps.db, request.flowId, scope)
  if (flow === null) throw new NotFound('body/flowId')
  if (flow.campaignId !== campaign.id) throw new BadRequest('body/flowId belongs to another campaign')
  if (request.configureTwilio === true && deps.twilio === null) throw new Conflict('body/configureTwilio: TWILIO_ACCOUNT_SID is not configured, so the number cannot be configured at Twilio')
  const created = await insertNumber(deps.db, { tenantId: campaign.tenantId, number: request.number, campaignId: campaign.id, flowId: flow.id, at: deps.now() })
  if (created === null) {
    // A number routes calls to one tenant only. That another tenant holds it is that tenant's
    // business: it is answered as its other objects are, as if it did not exist (README).
    const owner = await tenantOfNumber(deps.db, request.number)
    if (owner !== null && owner !== campaign.tenantId && scope !== null) throw new NotFound('body/number')
    if (owner === campaign.tenantId) throw new Conflict('body/number is already bound in this tenant')
    throw new Conflict(owner !== null ? 'body/number is already bound to another tenant' : 'body/number is already bound')
  }
  if (request.configureTwilio === true) {
    let configured
    try {
      configured = await deps.twilio!.configureNumber(request.number, {
        voice: `${deps.publicUrl}/twilio/voice`,
        status: `${deps.publicUrl}/twilio/status`,
        fallback: `${deps.publicUrl}/twilio/fallback`
      })
    } catch (err) {
      await deleteNumber(deps.db, created.id, campaign.tenantId)
      throw new TwilioApiFailed('Twilio did not configure the number; it was not bound', { cause: err })
    }
    if (configured === null) {
      await deleteNumber(deps.db, created.id, campaign.tenantId)
      throw new NotFound('body/number in the Twilio account')
    }
  }
  if (campaign.switchboard !== null) deps.rememberSwitchboard(created.number, campaign.switchboard)
  return created
}
