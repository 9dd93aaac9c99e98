import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { audited } from '../../audit/audited.js'
import { readScope, requireRole, writeTenant } from '../../auth/principal.js'
import { findCampaign } from '../../db/campaigns.js'
import { addSuppression, removeSuppressions, suppressionsOf, tidyAfterImport, type SuppressionSource } from '../../db/suppressions.js'
import { tenantExists } from '../../db/users.js'
import { BadRequest, errorReplies, Forbidden, NotFound, UnsupportedMediaType } from '../../errors.js'
import { normalizeNumber } from '../../privacy/phone.js'
import { hashNumber } from '../../privacy/number-hash.js'
import { ImportStopped, importSuppressions } from '../../suppression/import.js'
import { capWindow, screenNumbers } from '../../suppression/screen.js'
import { CSV_HEADER } from '../../suppression/screen-csv.js'
import { csvLineChunks } from '../../csv/lines.js'
import { ScreenWorkers } from '../../suppression/screen-workers.js'
import { loadScreeningSet } from '../../suppression/load-screening-set.js'

const Country = Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2, for numbers written without +' })
const TenantId = Type.String({ format: 'uuid', description: 'admin only' })
const Status = Type.Object({
  number: Type.String(),
  suppressed: Type.Boolean(),
  since: Type.Union([Type.String(), Type.Null()]),
  entries: Type.Array(Type.Object({ source: Type.String(), reason: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String() }))
})
// Rows an import adds before the table is vacuumed and analysed (see tidyAfterImport).
const TIDY_AFTER = 10_000
// Bytes of a CSV list a worker screens at a time (~8,000 numbers).
const SCREEN_CHUNK_BYTES = 128 * 1024
const ScreenResult = Type.Object({ input: Type.String(), number: Type.Union([Type.String(), Type.Null()]), callable: Type.Boolean(), reason: Type.Optional(Type.String()) })

/** The suppression list: opt-outs from every channel, and national do-not-call registers. */
const suppressionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database
  const { numberHashKey, csvMaxBytes } = app.config
  const workers = new ScreenWorkers(numberHashKey)
  app.addHook('onClose', async () => { await workers.close() })

  const e164 = (input: string, field: string, country?: string | null) => {
    const number = normalizeNumber(input, country)
    if (number === null) throw new BadRequest(`${field} "${input}" is not a phone number${country == null ? ' (a national number needs country)' : ''}`)
    return number
  }
  const status = async (tenantId: string, number: string) => {
    const entries = await suppressionsOf(db, tenantId, hashNumber(numberHashKey, number))
    return { number, suppressed: entries.length > 0, since: entries[0]?.createdAt.toISOString() ?? null, entries: entries.map((e) => ({ source: e.source, reason: e.reason, createdAt: e.createdAt.toISOString() })) }
  }

  app.get('/suppressions', {
    schema: { summary: 'Is this number suppressed, since when, from which sources', tags: ['suppression'], querystring: Type.Object({ number: Type.String({ minLength: 1, maxLength: 40 }), country: Type.Optional(Country), tenantId: Type.Optional(TenantId) }), response: { 200: Status, ...errorReplies } }
  }, async (request) => {
    const { principal } = request
    requireRole(principal, 'ops', 'agent', 'controller')
    const tenantId = writeTenant(principal, request.query.tenantId, 'querystring/tenantId')
    const number = e164(request.query.number, 'querystring/number', request.query.country)
    if (principal.role === 'admin' && !await tenantExists(db, tenantId)) throw new NotFound('querystring/tenantId')
    const found = await status(tenantId, number)
    // A check of a number is a lookup of a person, audited like a call search (whoever made it,
    // the admin too) in the log of the tenant whose list it read, without the number.
    await audited(db, { tenantId, actor: principal.actor, action: 'suppression.check', subject: null, details: { suppressed: found.suppressed }, at: app.clock.now() })
    return found
  })

  app.post('/suppressions', {
    schema: { summary: 'Add a number (an objection received by phone, e-mail, letter…)', tags: ['suppression'], body: Type.Object({ number: Type.String({ minLength: 1, maxLength: 40 }), country: Type.Optional(Country), reason: Type.Optional(Type.String({ maxLength: 500 })), tenantId: Type.Optional(TenantId) }, { additionalProperties: false }), response: { 201: Status, ...errorReplies } }
  }, async (request, reply) => {
    requireRole(request.principal, 'ops', 'agent', 'controller')
    const tenantId = writeTenant(request.principal, request.body.tenantId)
    const number = e164(request.body.number, 'body/number', request.body.country)
    const at = app.clock.now()
    await audited(db,
      (tx) => addSuppression(tx, { tenantId, numberHash: hashNumber(numberHashKey, number), source: 'api', reason: request.body.reason ?? null, createdBy: request.principal.userId, at }),
      (added) => added ? { tenantId, actor: request.principal.actor, action: 'suppression.add', subject: null, details: { source: 'api' }, at } : null)
    return reply.code(201).send(await status(tenantId, number))
  })

  app.delete('/suppressions', {
    schema: { summary: 'Lift a suppression (an IVR opt-out: controller or admin only, with a reason)', tags: ['suppression'], querystring: Type.Object({ number: Type.String({ minLength: 1, maxLength: 40 }), country: Type.Optional(Country), reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })), tenantId: Type.Optional(TenantId) }), response: { 200: Status, ...errorReplies } }
  }, async (request) => {
    const { principal } = request
    requireRole(principal, 'ops', 'controller')
    const tenantId = writeTenant(principal, request.query.tenantId, 'querystring/tenantId')
    const number = e164(request.query.number, 'querystring/number', request.query.country)
    const hash = hashNumber(numberHashKey, number)
    const entries = await suppressionsOf(db, tenantId, hash)
    if (entries.length === 0) throw new NotFound('suppression')
    const sources = [...new Set(entries.map((e) => e.source as SuppressionSource))]
    if (sources.includes('ivr')) {
      // The caller objected in their own words: only the controller may overrule that, on the record.
      if (principal.role !== 'admin' && principal.role !== 'controller') throw new Forbidden('an IVR opt-out can only be lifted by a controller or admin')
      if (request.query.reason === undefined) throw new BadRequest('querystring/reason is required to lift an IVR opt-out')
    }
    const at = app.clock.now()
    await audited(db,
      (tx) => removeSuppressions(tx, tenantId, hash, sources),
      { tenantId, actor: principal.actor, action: 'suppression.remove', subject: null, details: { sources, reason: request.query.reason ?? null }, at })
    return await status(tenantId, number)
  })

  app.post('/suppressions/import', {
    schema: {
      summary: 'Import a list (text/csv, one number per line or first column), streamed',
      tags: ['suppression'],
      querystring: Type.Object({ source: Type.Union([Type.Literal('import'), Type.Literal('registry')], { default: 'import' }), country: Type.Optional(Country), tenantId: Type.Optional(TenantId) }),
      response: { 200: Type.Object({ lines: Type.Integer(), added: Type.Integer(), alreadyPresent: Type.Integer(), invalid: Type.Integer(), invalidLines: Type.Array(Type.Integer()) }), ...errorReplies, 413: Type.Ref('ErrorReply'), 415: Type.Ref('ErrorReply') }
    }
  }, async (request) => {
    requireRole(request.principal, 'ops', 'controller')
    if (!(request.headers['content-type'] ?? '').startsWith('text/csv')) throw new UnsupportedMediaType('send the list as text/csv')
    const tenantId = writeTenant(request.principal, request.query.tenantId, 'querystring/tenantId')
    const at = app.clock.now()
    const source = request.query.source ?? 'import'
    const audit = async (result: { added: number, alreadyPresent: number, invalid: number }, stopped?: string) => {
      await audited(db, { tenantId, actor: request.principal.actor, action: 'suppression.import', subject: null, details: { source, added: result.added, alreadyPresent: result.alreadyPresent, invalid: result.invalid, ...(stopped !== undefined ? { stopped } : {}) }, at })
    }
    let result
    try {
      result = await importSuppressions(db, numberHashKey, request.body as Readable, { tenantId, source, country: request.query.country ?? null, createdBy: request.principal.userId, at, maxBytes: csvMaxBytes })
    } catch (error) {
      // What a stopped import stored is on the list all the same: it is on the record too.
      if (error instanceof ImportStopped && error.result.added > 0) await audit(error.result, error.code)
      throw error
    }
    if (result.added >= TIDY_AFTER) await tidyAfterImport(db)
    await audit(result)
    return result
  })

  app.post('/screen', {
    schema: {
      summary: 'Screen numbers before dialling: callable, or why not (JSON, or text/csv with ?campaignId=)',
      tags: ['suppression'],
      querystring: Type.Object({ campaignId: Type.Optional(Type.String({ format: 'uuid' })) }),
      body: {
        content: {
          'application/json': { schema: Type.Object({ campaignId: Type.String({ format: 'uuid' }), numbers: Type.Array(Type.String({ maxLength: 40 }), { minItems: 1, maxItems: 10_000 }) }, { additionalProperties: false }) },
          'text/csv': { schema: {} }
        }
      },
      response: { 200: Type.Object({ results: Type.Array(ScreenResult) }), ...errorReplies, 413: Type.Ref('ErrorReply') }
    }
  }, async (request, reply) => {
    requireRole(request.principal, 'ops', 'agent')
    const csv = (request.headers['content-type'] ?? '').startsWith('text/csv')
    const campaignId = csv ? request.query.campaignId : (request.body as { campaignId: string }).campaignId
    if (campaignId === undefined) throw new BadRequest('querystring/campaignId is required with a text/csv body')
    const campaign = await findCampaign(db, campaignId, readScope(request.principal))
    if (campaign === null) throw new NotFound('campaign')
    const now = app.clock.now()
    if (!csv) return { results: await screenNumbers(db, numberHashKey, campaign.tenantId, campaign, (request.body as { numbers: string[] }).numbers, now) }
    // CSV in, CSV out, a chunk at a time: a list of a million numbers is never held whole. The
    // lists are read once into memory (a snapshot as of now) and the chunks are screened against
    // it by worker threads; the database is not asked about each number.
    workers.warm()
    const chunks = csvLineChunks(request.body as Readable, { chunkBytes: SCREEN_CHUNK_BYTES, maxBytes: csvMaxBytes })
    // The first chunk is read before the answer starts, so a list that breaks a limit early (one
    // enormous line, say) is refused with a 400 or 413 that says why. A limit broken after the
    // 200 has gone out ends the answer abruptly instead (the connection is reset before the last
    // chunk, and the log says why): no client can take a partial answer for a whole one.
    const first = await chunks.next()
    const set = await loadScreeningSet(db, campaign.tenantId, capWindow(campaign, now))
    const country = campaign.defaultCountry
    async function * rows () {
      yield CSV_HEADER
      // Answers go out in input order; at most two chunks a thread are outstanding, so memory is
      // bounded whatever the length of the list.
      const answering: Array<Promise<string>> = []
      const screen = (text: string) => {
        const next = workers.screen(text, set, country)
        next.catch(() => {}) // awaited below; not unhandled meanwhile
        answering.push(next)
      }
      if (first.done !== true) screen(first.value)
      for await (const text of chunks) {
        screen(text)
        if (answering.length >= 2 * workers.size) yield await answering.shift()!
      }
      while (answering.length > 0) yield await answering.shift()!
    }
    return reply.type('text/csv').send(Readable.from(rows()) as never)
  })
}

export default suppressionRoutes
