import type { Executor } from '../db/executor.js'
import { findFlow, findVersion } from '../db/flows.js'
import { isBoundTo } from '../db/numbers.js'
import { BadRequest, InvalidFlow } from '../errors.js'
import { checkOutboundFlow, type FlowDefinition } from '../flows/index.js'
import type { Dialler } from './schema.js'

/**
 * What the schema cannot say about a campaign's dialler settings: the flow is the campaign's own
 * and its published version lets the callee refuse (checkOutboundFlow; publishing another
 * version is checked the same way), and the caller ID is one of its bound numbers, so that a callee who calls back reaches this
 * campaign's inbound flow (and its opt-out).
 */
export async function checkDiallerSettings (db: Executor, campaign: { id: string, tenantId: string }, dialler: Dialler): Promise<void> {
  const flow = await findFlow(db, dialler.flowId, campaign.tenantId)
  if (flow === null || flow.campaignId !== campaign.id) throw new BadRequest(`body/dialler/flowId ${dialler.flowId} is not a flow of this campaign`)
  if (flow.publishedVersion !== null) {
    const version = await findVersion(db, flow.id, flow.publishedVersion)
    const problems = version === null ? [] : checkOutboundFlow(version.definition as FlowDefinition)
    if (problems.length > 0) throw new InvalidFlow(problems, `body/dialler/flowId: version ${flow.publishedVersion} of the flow, as the dialler's flow,`)
  }
  if (!await isBoundTo(db, campaign.id, dialler.callerId)) {
    throw new BadRequest(`body/dialler/callerId ${dialler.callerId} is not a number bound to this campaign (POST /api/numbers binds one)`)
  }
}
