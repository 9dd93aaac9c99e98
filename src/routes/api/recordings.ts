import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { appendAudit } from '../../audit/append.js'
import { readScope, requireRole } from '../../auth/principal.js'
import { findRecordingScoped, updateRecording } from '../../db/recordings.js'
import { Conflict, errorReplies, NotFound } from '../../errors.js'
import { revokeLinks } from '../../db/recording-links.js'
import { DEFAULT_LINK_SECONDS, MAX_LINK_SECONDS } from '../../recording/link-token.js'
import { issueLink } from '../../recording/links.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const Gone = Type.Ref('ErrorReply')

/** Controllers' access to recordings: signed links (never storage keys) and deletion. */
const recordingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database

  async function ownRecording (request: { principal: Parameters<typeof readScope>[0] }, id: string) {
    const row = await findRecordingScoped(db, id, readScope(request.principal))
    if (row === null) throw new NotFound('recording')
    requireRole(request.principal, 'controller')
    return row
  }

  app.post('/recordings/:id/link', {
    // Every field is optional, so a POST without a body means "the defaults".
    preValidation: async (request) => { request.body ??= {} },
    schema: {
      summary: 'A signed, expiring link to listen to a recording (audited on every fetch)',
      tags: ['recordings'],
      params: IdParams,
      body: Type.Object({
        expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: MAX_LINK_SECONDS, description: `default ${DEFAULT_LINK_SECONDS}` })),
        pin: Type.Optional(Type.String({ pattern: '^[0-9]{4,12}$', description: 'the fetch must present it (header x-recording-pin)' }))
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ url: Type.String(), expiresAt: Type.String() }), ...errorReplies, 410: Gone }
    }
  }, async (request, reply) => {
    const row = await ownRecording(request, request.params.id)
    if (row.deletedAt !== null) return reply.code(410).send({ statusCode: 410, code: 'CG_GONE', error: 'Gone', message: 'the recording was deleted' })
    if (row.status !== 'stored') throw new Conflict(`the recording is ${row.status}, not yet stored`)
    const now = app.clock.now()
    const expiresAt = new Date(now.getTime() + (request.body.expiresInSeconds ?? DEFAULT_LINK_SECONDS) * 1000)
    const token = await db.transaction(async (tx) => {
      const link = await issueLink(tx, app.config.linkSecret, { recordingId: row.id, issuedBy: request.principal.actor, expiresAt, pin: request.body.pin }, now)
      await appendAudit(tx, { tenantId: row.tenantId, actor: request.principal.actor, action: 'recording.link', subject: `recording:${row.id}`, details: { link: link.id, expiresAt: expiresAt.toISOString(), pin: request.body.pin !== undefined }, at: now })
      return link.token
    })
    return { url: `${app.config.publicUrl}/recordings/${row.id}?token=${token}`, expiresAt: expiresAt.toISOString() }
  })

  app.delete('/recordings/:id/links', {
    schema: {
      summary: 'Revoke every link issued so far for a recording (a later fetch answers 410); new links can still be issued',
      tags: ['recordings'],
      params: IdParams,
      response: { 200: Type.Object({ revoked: Type.Integer({ description: 'links revoked by this call' }) }), ...errorReplies }
    }
  }, async (request) => {
    const row = await ownRecording(request, request.params.id)
    const now = app.clock.now()
    const revoked = await db.transaction(async (tx) => {
      const n = await revokeLinks(tx, row.id, now)
      await appendAudit(tx, { tenantId: row.tenantId, actor: request.principal.actor, action: 'recording.link.revoke', subject: `recording:${row.id}`, details: { links: n }, at: now })
      return n
    })
    return { revoked }
  })

  const hold = async (request: { principal: Parameters<typeof readScope>[0] }, id: string, on: boolean) => {
    const row = await ownRecording(request, id)
    if (row.deletedAt !== null) throw new Conflict('the recording was deleted')
    if (row.legalHold === on) return { id: row.id, legalHold: on }
    const now = app.clock.now()
    await db.transaction(async (tx) => {
      await updateRecording(tx, row.id, { legalHold: on })
      await appendAudit(tx, { tenantId: row.tenantId, actor: request.principal.actor, action: on ? 'recording.hold' : 'recording.release', subject: `recording:${row.id}`, details: {}, at: now })
    })
    if (row.status === 'stored') {
      // Object Lock makes S3 itself refuse the delete; buckets without it rely on the row's flag.
      await app.objectStore.legalHold(row, on)
        .catch((err: unknown) => { app.log.info({ err: (err as Error).name, recordingId: row.id }, 'bucket has no Object Lock; legal hold kept in the database') })
    }
    return { id: row.id, legalHold: on }
  }
  const HoldReply = { 200: Type.Object({ id: Type.String(), legalHold: Type.Boolean() }), ...errorReplies }
  app.post('/recordings/:id/hold', { schema: { summary: 'Put a recording on legal hold: no deletion, by the sweeper or anyone, until released', tags: ['recordings'], params: IdParams, response: HoldReply } },
    async (request) => hold(request, request.params.id, true))
  app.delete('/recordings/:id/hold', { schema: { summary: 'Release a legal hold', tags: ['recordings'], params: IdParams, response: HoldReply } },
    async (request) => hold(request, request.params.id, false))

  app.delete('/recordings/:id', {
    schema: { summary: 'Delete a recording: every version of its object, and mark the row deleted', tags: ['recordings'], params: IdParams, response: { 204: Type.Null(), ...errorReplies, 410: Gone } }
  }, async (request, reply) => {
    const row = await ownRecording(request, request.params.id)
    if (row.deletedAt !== null) return reply.code(410).send({ statusCode: 410, code: 'CG_GONE', error: 'Gone', message: 'the recording was already deleted' })
    if (row.legalHold) throw new Conflict('the recording is under legal hold')
    if (row.status === 'recording') throw new Conflict('the recording is still in progress')
    const versions = row.status === 'stored' ? await app.objectStore.deleteAllVersions(row) : 0
    const now = app.clock.now()
    await db.transaction(async (tx) => {
      await updateRecording(tx, row.id, { status: 'deleted', deletedAt: now })
      await appendAudit(tx, { tenantId: row.tenantId, actor: request.principal.actor, action: 'recording.delete', subject: `recording:${row.id}`, details: { versions }, at: now })
    })
    return reply.code(204).send(null)
  })
}

export default recordingRoutes
