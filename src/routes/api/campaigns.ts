import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { readScope, requireRole, writeTenant } from '../../auth/principal.js'
import { checkCampaign } from '../../campaigns/check.js'
import { checkDiallerSettings } from '../../campaigns/dialler-settings.js'
import { recomputeRecordingRetention } from '../../campaigns/retention.js'
import { CampaignCreateSchema, CampaignPatchSchema, CampaignSchema } from '../../campaigns/schema.js'
import { findCampaign, insertCampaign, listCampaigns, updateCampaign } from '../../db/campaigns.js'
import { tenantExists } from '../../db/users.js'
import { errorReplies, NotFound } from '../../errors.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

const campaignRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database

  app.post('/campaigns', {
    schema: { summary: 'Create a campaign', tags: ['campaigns'], body: CampaignCreateSchema, response: { 201: CampaignSchema, ...errorReplies } }
  }, async (request, reply) => {
    requireRole(request.principal, 'ops')
    const { tenantId: requested, ...input } = request.body
    const tenantId = writeTenant(request.principal, requested)
    if (!await tenantExists(db, tenantId)) throw new NotFound('body/tenantId')
    checkCampaign(input)
    return reply.code(201).send(await insertCampaign(db, tenantId, input, app.clock.now()))
  })

  app.get('/campaigns', {
    schema: { summary: 'List campaigns', tags: ['campaigns'], response: { 200: Type.Array(CampaignSchema), ...errorReplies } }
  }, async (request) => listCampaigns(db, readScope(request.principal)))

  app.get('/campaigns/:id', {
    schema: { summary: 'Get a campaign', tags: ['campaigns'], params: IdParams, response: { 200: CampaignSchema, ...errorReplies } }
  }, async (request) => {
    const campaign = await findCampaign(db, request.params.id, readScope(request.principal))
    if (campaign === null) throw new NotFound('campaign')
    return campaign
  })

  app.patch('/campaigns/:id', {
    schema: {
      summary: 'Change a campaign (a new recordings window applies to later recordings; ?recomputeRetention=true re-computes existing ones)',
      tags: ['campaigns'],
      params: IdParams,
      querystring: Type.Object({ recomputeRetention: Type.Optional(Type.Boolean()) }),
      body: CampaignPatchSchema,
      response: { 200: CampaignSchema, ...errorReplies }
    }
  }, async (request) => {
    const scope = readScope(request.principal)
    const current = await findCampaign(db, request.params.id, scope)
    if (current === null) throw new NotFound('campaign')
    requireRole(request.principal, 'ops')
    checkCampaign({ ...current, ...request.body })
    if (request.body.dialler != null) await checkDiallerSettings(db, current, request.body.dialler)
    const now = app.clock.now()
    const updated = await updateCampaign(db, request.params.id, scope, request.body, now)
    if (updated === null) throw new NotFound('campaign')
    if (request.query.recomputeRetention === true) {
      await recomputeRecordingRetention({ db, store: app.objectStore }, updated, request.principal.actor, now)
    }
    return updated
  })
}

export default campaignRoutes
