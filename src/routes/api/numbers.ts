import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { readScope, requireRole } from '../../auth/principal.js'
import { E164 } from '../../campaigns/schema.js'
import { findCampaign } from '../../db/campaigns.js'
import { findFlow } from '../../db/flows.js'
import { deleteNumber, insertNumber, listNumbers, tenantOfNumber } from '../../db/numbers.js'
import { BadRequest, Conflict, errorReplies, NotFound } from '../../errors.js'

const NumberSchema = Type.Object({ id: Type.String(), tenantId: Type.String(), number: Type.String(), campaignId: Type.String(), flowId: Type.String(), createdAt: Type.String() })

/** The tenant's Twilio numbers, each bound to a campaign and the flow its calls run. */
const numberRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database

  app.post('/numbers', {
    schema: {
      summary: 'Bind a Twilio number to a campaign and flow',
      tags: ['numbers'],
      body: Type.Object({ number: E164, campaignId: Type.String({ format: 'uuid' }), flowId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
      response: { 201: NumberSchema, ...errorReplies }
    }
  }, async (request, reply) => {
    requireRole(request.principal, 'ops')
    const scope = readScope(request.principal)
    const campaign = await findCampaign(db, request.body.campaignId, scope)
    if (campaign === null) throw new NotFound('body/campaignId')
    const flow = await findFlow(db, request.body.flowId, scope)
    if (flow === null) throw new NotFound('body/flowId')
    if (flow.campaignId !== campaign.id) throw new BadRequest('body/flowId belongs to another campaign')
    const created = await insertNumber(db, { tenantId: campaign.tenantId, number: request.body.number, campaignId: campaign.id, flowId: flow.id, at: app.clock.now() })
    if (created === null) {
      // A number routes calls to one tenant only. That another tenant holds it is that tenant's
      // business: it is answered as its other objects are, as if it did not exist (README).
      const owner = await tenantOfNumber(db, request.body.number)
      if (owner !== null && owner !== campaign.tenantId && scope !== null) throw new NotFound('body/number')
      if (owner === campaign.tenantId) throw new Conflict('body/number is already bound in this tenant')
      throw new Conflict(owner !== null ? 'body/number is already bound to another tenant' : 'body/number is already bound')
    }
    if (campaign.switchboard !== null) app.switchboards.set(created.number, campaign.switchboard)
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
