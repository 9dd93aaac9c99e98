import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import { Type } from 'typebox'
import { audited } from '../../audit/audited.js'
import { readScope, requireRole, type Principal } from '../../auth/principal.js'
import { findCampaign } from '../../db/campaigns.js'
import { findFlow, findVersion, insertFlow, insertVersion, listFlows, markPublished, previousPublished } from '../../db/flows.js'
import { listVersionsWithNames } from '../../db/version-list.js'
import { MAX_INT4, QueryInteger } from '../query-params.js'
import { BadRequest, errorReplies, InvalidFlow, NotFound, PayloadTooLarge } from '../../errors.js'
import { checkAgainstCampaign, checkOutboundFlow, graphView, MAX_GRAPH_VIEW_NODES, simulate, validateFlow, type FlowDefinition, type Problem } from '../../flows/index.js'

const FlowSchema = Type.Object({ id: Type.String(), tenantId: Type.String(), campaignId: Type.String(), name: Type.String(), publishedVersion: Type.Union([Type.Integer(), Type.Null()]), createdAt: Type.String() })
const VersionSummary = {
  version: Type.Integer(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  publishedAt: Type.Union([Type.String(), Type.Null()]),
  publishedBy: Type.Union([Type.String(), Type.Null()])
}
const VersionSchema = Type.Object({ ...VersionSummary, definition: Type.Unknown() })
const Name = Type.Union([Type.String(), Type.Null()], { description: 'the user\'s name; null for the admin token' })
const VersionListItem = Type.Object({ ...VersionSummary, createdByName: Name, publishedByName: Name })
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const ProblemSchema = Type.Object({ path: Type.String({ description: 'JSON pointer into the definition, e.g. /nodes/menu/options/1' }), message: Type.String() })
// The graph the server reads from a definition, so the console draws it without a second copy of the engine's rules.
const GraphSchema = Type.Union([
  Type.Object({
    start: Type.String(),
    nodes: Type.Array(Type.Object({
      id: Type.String(),
      type: Type.String(),
      consentOnEntry: Type.Union([Type.Boolean(), Type.Null()], { description: 'consent certainly granted on every way in; null: not reached from start' })
    })),
    edges: Type.Array(Type.Object({
      from: Type.String(),
      to: Type.String(),
      label: Type.String({ description: 'the key pressed, the outcome (granted, closed, no input…), or empty for next' }),
      grantsConsent: Type.Boolean()
    }))
  }),
  Type.Null()
], { description: `null when the definition is too malformed to tell its graph (no start, or a node that cannot be read) or has more than ${MAX_GRAPH_VIEW_NODES} nodes, more than a picture can show` })
const Digits = Type.String({ pattern: '^[0-9*#]{0,20}$', description: 'keys pressed at one prompt; empty is silence' })
const SimulateBody = Type.Object({
  definition: Type.Optional(Type.Unknown({ description: 'an unsaved definition; without it, version (or the published one) runs' })),
  version: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_INT4 })),
  digits: Type.Array(Digits, { maxItems: 50, description: 'one entry per menu or consent prompt, in order; the run stops when they run out' }),
  dialStatuses: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z-]{1,20}$' }), { maxItems: 50, description: 'one DialCallStatus per dial; completed when they run out' })),
  at: Type.String({ format: 'date-time', description: 'when the simulated call happens (hours and holidays are the campaign\'s)' })
}, { additionalProperties: false })
const SimulatedRequest = Type.Object({
  input: Type.Object({ kind: Type.String(), node: Type.Optional(Type.String()), digits: Type.Optional(Type.String()), dialStatus: Type.Optional(Type.String()) }),
  waitingAt: Type.Union([Type.String(), Type.Null()]),
  ended: Type.Boolean(),
  consent: Type.String(),
  recording: Type.Boolean(),
  twiml: Type.String(),
  effects: Type.Array(Type.Object({ type: Type.String(), node: Type.String() }, { additionalProperties: true }))
})
const VersionParams = Type.Object({ id: Type.String({ format: 'uuid' }), v: QueryInteger({ minimum: 1, maximum: MAX_INT4 }) })
// The routes that take a definition: a flow of thousands of nodes fits (the node and text limits
// are the validator's, src/flows/definition.ts), and anything larger is refused before it is read.
const FLOW_BODY_LIMIT = 2 * 1024 * 1024
const definitionBody = {
  bodyLimit: FLOW_BODY_LIMIT,
  // Fastify's own 413 does not say what the limit is; the app's error handler answers this one.
  errorHandler (error: FastifyError) {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') throw new PayloadTooLarge(`request body is over ${FLOW_BODY_LIMIT} bytes (2 MiB), the limit for a flow definition`)
    throw error
  }
}
const tooLarge = { 413: Type.Ref('ErrorReply') }

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

  app.post('/flows/validate', {
    ...definitionBody,
    schema: {
      summary: 'Check a definition without saving it: its problems, those publishing it to a campaign would meet, and its graph',
      tags: ['flows'],
      body: Type.Object({ definition: Type.Unknown(), campaignId: Type.Optional(Type.String({ format: 'uuid' })) }, { additionalProperties: false, required: ['definition'] }),
      response: { 200: Type.Object({ valid: Type.Boolean(), problems: Type.Array(ProblemSchema), publishProblems: Type.Array(ProblemSchema), graph: GraphSchema }), ...errorReplies, ...tooLarge }
    }
  }, async (request) => {
    requireRole(request.principal, 'ops')
    const problems = validateFlow(request.body.definition)
    let publishProblems: Problem[] = []
    if (request.body.campaignId !== undefined) {
      const campaign = await findCampaign(db, request.body.campaignId, readScope(request.principal))
      if (campaign === null) throw new NotFound('body/campaignId')
      // The campaign rules read nodes by type, which only a definition of the right shape has.
      if (problems.length === 0) publishProblems = checkAgainstCampaign(request.body.definition as FlowDefinition, campaign)
    }
    return { valid: problems.length === 0, problems, publishProblems, graph: graphView(request.body.definition) }
  })

  app.post('/flows/:id/simulate', {
    ...definitionBody,
    schema: {
      summary: 'Run the flow on scripted key presses at a given time, in its campaign, as Twilio would: what each webhook answers',
      tags: ['flows'],
      params: IdParams,
      body: SimulateBody,
      response: { 200: Type.Object({ version: Type.Union([Type.Integer(), Type.Null()]), path: Type.Array(Type.String({ description: 'nodes entered, in order' })), requests: Type.Array(SimulatedRequest) }), ...errorReplies, ...tooLarge }
    }
  }, async (request) => {
    const flow = await ownFlow(request.principal, request.params.id)
    requireRole(request.principal, 'ops')
    const { body } = request
    let definition: unknown
    let version: number | null = null
    if (body.definition !== undefined) {
      definition = body.definition
    } else {
      version = body.version ?? flow.publishedVersion
      if (version === null) throw new BadRequest('body/version is required: the flow has no published version')
      const found = await findVersion(db, flow.id, version)
      if (found === null) throw new NotFound('version')
      definition = found.definition
    }
    const problems = validateFlow(definition)
    if (problems.length > 0) throw new InvalidFlow(problems.map((p) => ({ ...p, path: `/definition${p.path}` })), 'body/definition')
    const campaign = await findCampaign(db, flow.campaignId, flow.tenantId)
    if (campaign === null) throw new NotFound('campaign')
    const transcript = simulate(definition as FlowDefinition, {
      campaign,
      now: new Date(body.at),
      digits: body.digits,
      dialStatuses: body.dialStatuses ?? [],
      baseUrl: app.config.publicUrl
    })
    // A waiting node logs once when it asks and once when it is answered: one entry per visit.
    const path = transcript.flatMap((r) => r.effects.filter((e) => e.type === 'logEvent').map((e) => e.node)).filter((node, i, all) => node !== all[i - 1])
    return {
      version,
      path,
      requests: transcript.map((r) => ({ input: r.input, waitingAt: r.waitingAt, ended: r.state.ended, consent: r.state.consent, recording: r.state.recording, twiml: r.twiml, effects: r.effects }))
    }
  })

  app.post('/flows/:id/versions', {
    ...definitionBody,
    schema: {
      summary: 'Save a draft version (400 with every problem if the definition is invalid)',
      tags: ['flows'],
      params: IdParams,
      body: Type.Object({ definition: Type.Unknown() }, { additionalProperties: false, required: ['definition'] }),
      response: { 201: VersionSchema, ...errorReplies, ...tooLarge }
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
    schema: { summary: 'Versions with who saved and published them (ids and names), and when', tags: ['flows'], params: IdParams, response: { 200: Type.Array(VersionListItem), ...errorReplies } }
  }, async (request) => {
    const flow = await ownFlow(request.principal, request.params.id)
    // A controller reads what callers heard around their consent (calls record the flow version).
    requireRole(request.principal, 'ops', 'controller')
    return await listVersionsWithNames(db, flow.id)
  })

  app.get('/flows/:id/versions/:v', {
    schema: { summary: 'One version, with its definition (portable: no installation-specific ids)', tags: ['flows'], params: VersionParams, response: { 200: VersionSchema, ...errorReplies } }
  }, async (request) => {
    const flow = await ownFlow(request.principal, request.params.id)
    requireRole(request.principal, 'ops', 'controller')
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
    const definition = version.definition as FlowDefinition
    // The campaign's dialler flow runs when the callee answers: it must also let them refuse.
    const problems = [...checkAgainstCampaign(definition, campaign), ...(campaign.dialler?.flowId === flow.id ? checkOutboundFlow(definition) : [])]
    if (problems.length > 0) throw new InvalidFlow(problems, `version ${v} with campaign ${campaign.name}`)
    const at = app.clock.now()
    await audited(db,
      (tx) => markPublished(tx, flow.id, v, principal.userId, at),
      { tenantId: flow.tenantId, actor: principal.actor, action, subject: `flow:${flow.id}`, details: { version: v, previous: flow.publishedVersion }, at })
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
