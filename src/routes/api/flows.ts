import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { appendAudit } from '../../audit/append.js'
import { readScope, requireRole, type Principal } from '../../auth/principal.js'
import { findCampaign } from '../../db/campaigns.js'
import { findFlow, findVersion, insertFlow, insertVersion, listFlows, listVersions, markPublished, previousPublished } from '../../db/flows.js'
import { BadRequest, errorReplies, InvalidFlow, NotFound } from '../../errors.js'
import { checkAgainstCampaign, validateFlow, type FlowDefinition } from '../../flows/index.js'

const FlowSchema = Type.Object({ id: Type.String(), tenantId: Type.String(), campaignId: Type.String(), name: Type.String(), publishedVersion: Type.Union([Type.Integer(), Type.Null()]), createdAt: Type.String() })
const VersionSummary = {
  version: Type.Integer(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  publishedAt: Type.Union([Type.String(), Type.Null()]),
  publishedBy: Type.Union([Type.String(), Type.Null()])
}
const VersionSchema = Type.Object({ ...VersionSummary, definition: Type.Unknown() })
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const VersionParams = Type.Object({ id: Type.String({ format: 'uuid' }), v: Type.Integer({ minimum: 1 }) })

const flowRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database

  async function ownFlow (principal: Principal, id: string) {
    const flow = await findFlow(db, id, readScope(principal))
    if (flow === null) throw new NotFound('flow')
    return flow
  }

  app.post('/flows', {
    schema: { summary: 'Create a flow for a campaign', tags: ['flows'], body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }), campaignId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }), response: { 201: FlowSchema, ...errorReplies } }
  }, async (request, reply) => {
    requireRole(request.principal, 'ops')
    const campaign = await findCampaign(db, request.body.campaignId, readScope(request.principal))
    if (campaign === null) throw new NotFound('body/campaignId')
    return reply.code(201).send(await insertFlow(db, { tenantId: campaign.tenantId, campaignId: campaign.id, name: request.body.name, at: app.clock.now() }))
  })

  app.get('/flows', { schema: { summary: 'List flows', tags: ['flows'], response: { 200: Type.Array(FlowSchema), ...errorReplies } } },
    async (request) => listFlows(db, readScope(request.principal)))

  app.get('/flows/:id', { schema: { summary: 'Get a flow', tags: ['flows'], params: IdParams, response: { 200: FlowSchema, ...errorReplies } } },
    async (request) => ownFlow(request.principal, request.params.id))

  app.post('/flows/:id/versions', {
    schema: {
      summary: 'Save a draft version (400 with every problem if the definition is invalid)',
      tags: ['flows'],
      params: IdParams,
      body: Type.Object({ definition: Type.Unknown() }, { additionalProperties: false, required: ['definition'] }),
      response: { 201: VersionSchema, ...errorReplies }
    }
  }, async (request, reply) => {
    const flow = await ownFlow(request.principal, request.params.id)
    requireRole(request.principal, 'ops')
    const problems = validateFlow(request.body.definition)
    if (problems.length > 0) throw new InvalidFlow(problems.map((p) => ({ ...p, path: `/definition${p.path}` })), 'body/definition')
    const version = await insertVersion(db, { tenantId: flow.tenantId, flowId: flow.id, definition: request.body.definition, createdBy: request.principal.userId, at: app.clock.now() })
    return reply.code(201).send(version)
  })

  app.get('/flows/:id/versions', {
    schema: { summary: 'Versions with who saved and published them, and when', tags: ['flows'], params: IdParams, response: { 200: Type.Array(Type.Object(VersionSummary)), ...errorReplies } }
  }, async (request) => {
    const flow = await ownFlow(request.principal, request.params.id)
    return (await listVersions(db, flow.id)).map(({ definition: _d, ...summary }) => summary)
  })

  app.get('/flows/:id/versions/:v', {
    schema: { summary: 'One version, with its definition (portable: no installation-specific ids)', tags: ['flows'], params: VersionParams, response: { 200: VersionSchema, ...errorReplies } }
  }, async (request) => {
    const flow = await ownFlow(request.principal, request.params.id)
    const version = await findVersion(db, flow.id, request.params.v)
    if (version === null) throw new NotFound('version')
    return version
  })

  async function publish (principal: Principal, flowId: string, v: number, action: 'flow.publish' | 'flow.rollback') {
    const flow = await ownFlow(principal, flowId)
    requireRole(principal, 'ops')
    const version = await findVersion(db, flow.id, v)
    if (version === null) throw new NotFound('version')
    const campaign = await findCampaign(db, flow.campaignId, flow.tenantId)
    if (campaign === null) throw new NotFound('campaign')
    const problems = checkAgainstCampaign(version.definition as FlowDefinition, campaign)
    if (problems.length > 0) throw new InvalidFlow(problems, `version ${v} with campaign ${campaign.name}`)
    const at = app.clock.now()
    await db.transaction(async (tx) => {
      await markPublished(tx, flow.id, v, principal.userId, at)
      await appendAudit(tx, { tenantId: flow.tenantId, actor: principal.actor, action, subject: `flow:${flow.id}`, details: { version: v, previous: flow.publishedVersion }, at })
    })
    return { ...flow, publishedVersion: v }
  }

  app.post('/flows/:id/versions/:v/publish', {
    schema: { summary: 'Publish a version: new calls run it (calls in progress keep theirs)', tags: ['flows'], params: VersionParams, response: { 200: FlowSchema, ...errorReplies } }
  }, async (request) => publish(request.principal, request.params.id, request.params.v, 'flow.publish'))

  app.post('/flows/:id/rollback', {
    schema: { summary: 'Publish again the version that was live before the current one', tags: ['flows'], params: IdParams, response: { 200: FlowSchema, ...errorReplies } }
  }, async (request) => {
    const flow = await ownFlow(request.principal, request.params.id)
    if (flow.publishedVersion === null) throw new BadRequest('flow has no published version to roll back from')
    const previous = await previousPublished(db, flow.id, flow.publishedVersion)
    if (previous === null) throw new BadRequest('flow has no earlier published version')
    return publish(request.principal, flow.id, previous, 'flow.rollback')
  })
}

export default flowRoutes
