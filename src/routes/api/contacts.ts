import type { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { audited } from '../../audit/audited.js'
import { readScope, requireRole } from '../../auth/principal.js'
import { importContacts, type ContactImport } from '../../campaigns/contacts-import.js'
import { previewCampaign } from '../../campaigns/preview.js'
import { findCampaign } from '../../db/campaigns.js'
import { contactPage } from '../../db/contacts.js'
import { CONTACT_STATUSES } from '../../db/schema.js'
import { errorReplies, NotFound, UnsupportedMediaType } from '../../errors.js'
import { ImportStopped } from '../../suppression/import.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const Status = Type.Union(CONTACT_STATUSES.map((s) => Type.Literal(s)))
const Contact = Type.Object({
  id: Type.String(),
  number: Type.String(),
  reference: Type.Union([Type.String(), Type.Null()]),
  status: Status,
  attempts: Type.Integer(),
  lastOutcome: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()])
})
const Counts = Type.Object({ suppressed: Type.Integer(), registry: Type.Integer(), restricted: Type.Integer(), cap: Type.Integer(), outsideWindow: Type.Integer() })

/** A campaign's contact list (what its dialler calls), and what the dialler would make of it now. */
const contactRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database
  const { numberHashKey, csvMaxBytes } = app.config

  const campaignOf = async (id: string, scope: string | null) => {
    const campaign = await findCampaign(db, id, scope)
    if (campaign === null) throw new NotFound('campaign')
    return campaign
  }

  app.post('/campaigns/:id/contacts', {
    schema: {
      summary: 'Import contacts (text/csv, number[,reference[,timezone]] a line), streamed',
      tags: ['outbound'],
      params: IdParams,
      querystring: Type.Object({ country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2 for national numbers; the campaign\'s defaultCountry otherwise' })) }),
      response: { 200: Type.Object({ lines: Type.Integer(), added: Type.Integer(), duplicates: Type.Integer(), invalid: Type.Integer(), invalidLines: Type.Array(Type.Integer()) }), ...errorReplies, 413: Type.Ref('ErrorReply'), 415: Type.Ref('ErrorReply') }
    }
  }, async (request) => {
    const campaign = await campaignOf(request.params.id, readScope(request.principal))
    requireRole(request.principal, 'ops')
    if (!(request.headers['content-type'] ?? '').startsWith('text/csv')) throw new UnsupportedMediaType('send the contact list as text/csv')
    const at = app.clock.now()
    const audit = async (result: { lines: number, added: number, duplicates: number, invalid: number }, stopped?: string) => {
      await audited(db, { tenantId: campaign.tenantId, actor: request.principal.actor, action: 'contacts.import', subject: `campaign:${campaign.id}`, details: { lines: result.lines, added: result.added, duplicates: result.duplicates, invalid: result.invalid, ...(stopped !== undefined ? { stopped } : {}) }, at })
    }
    const deps = { db, numberHashKey, fields: await app.tenantKeys.fieldsOf(campaign.tenantId) }
    let result
    try {
      result = await importContacts(deps, request.body as Readable, { tenantId: campaign.tenantId, campaignId: campaign.id, country: request.query.country ?? campaign.defaultCountry, at, maxBytes: csvMaxBytes })
    } catch (error) {
      if (error instanceof ImportStopped && error.result.added > 0) await audit(error.result as ContactImport, error.code)
      throw error
    }
    await audit(result)
    return result
  })

  app.get('/campaigns/:id/contacts', {
    schema: {
      summary: 'List the campaign\'s contacts, numbers in clear (audited)',
      tags: ['outbound'],
      params: IdParams,
      querystring: Type.Object({
        status: Type.Optional(Status),
        limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
        cursor: Type.Optional(Type.String({ format: 'uuid', description: 'nextCursor of the previous page' }))
      }),
      response: { 200: Type.Object({ contacts: Type.Array(Contact), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorReplies }
    }
  }, async (request) => {
    const campaign = await campaignOf(request.params.id, readScope(request.principal))
    requireRole(request.principal, 'ops', 'controller')
    const { status, limit, cursor } = request.query
    const page = await contactPage(db, campaign.id, { ...(status !== undefined ? { status } : {}), ...(cursor !== undefined ? { after: cursor } : {}), limit: limit + 1 })
    const shown = page.slice(0, limit)
    const fields = await app.tenantKeys.fieldsOf(campaign.tenantId)
    // Numbers in clear are personal data leaving the database: who read how many is on record.
    await audited(db, { tenantId: campaign.tenantId, actor: request.principal.actor, action: 'contacts.read', subject: `campaign:${campaign.id}`, details: { contacts: shown.length, ...(status !== undefined ? { status } : {}) }, at: app.clock.now() })
    return {
      contacts: shown.map((c) => ({
        id: c.id,
        number: fields.open(c.numberSealed, campaign.id),
        reference: c.reference,
        status: c.status,
        attempts: c.attempts,
        lastOutcome: c.lastOutcome,
        nextAttemptAt: c.nextAttemptAt?.toISOString() ?? null
      })),
      nextCursor: page.length > limit ? shown[shown.length - 1]!.id : null
    }
  })

  app.get('/campaigns/:id/preview', {
    schema: {
      summary: 'Who the dialler would call now, who it would skip and why, and when the window next opens',
      tags: ['outbound'],
      params: IdParams,
      response: { 200: Type.Object({ contacts: Type.Integer(), callableNow: Type.Integer(), skipped: Counts, windowOpensAt: Type.Union([Type.String(), Type.Null()]) }), ...errorReplies }
    }
  }, async (request) => {
    const campaign = await campaignOf(request.params.id, readScope(request.principal))
    requireRole(request.principal, 'ops')
    const now = app.clock.now()
    const preview = await previewCampaign(db, campaign, now)
    await audited(db, { tenantId: campaign.tenantId, actor: request.principal.actor, action: 'campaign.preview', subject: `campaign:${campaign.id}`, details: { contacts: preview.contacts, callableNow: preview.callableNow, skipped: preview.skipped }, at: now })
    return preview
  })
}

export default contactRoutes
