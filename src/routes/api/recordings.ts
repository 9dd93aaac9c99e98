import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { readScope, requireRole } from '../../auth/principal.js'
import { findRecordingScoped } from '../../db/recordings.js'
import { errorReplies, NotFound } from '../../errors.js'
import { createRecordingAdmin } from '../../recording/admin.js'
import { DEFAULT_LINK_SECONDS, MAX_LINK_SECONDS } from '../../recording/link-token.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const Gone = Type.Ref('ErrorReply')

/** Controllers' access to recordings: signed links (never storage keys) and deletion. */
const recordingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database
  const recordings = createRecordingAdmin({ db, store: app.objectStore, clock: app.clock, log: app.log, linkSecret: app.config.linkSecret, publicUrl: app.config.publicUrl })

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
  }, async (request) => {
    const row = await ownRecording(request, request.params.id)
    return await recordings.shareLink(row, request.principal.actor, request.body)
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
    return { revoked: await recordings.revokeAllLinks(row, request.principal.actor) }
  })

  const hold = async (request: { principal: Parameters<typeof readScope>[0] }, id: string, on: boolean) =>
    await recordings.setLegalHold(await ownRecording(request, id), request.principal.actor, on)
  const HoldReply = { 200: Type.Object({ id: Type.String(), legalHold: Type.Boolean() }), ...errorReplies }
  app.post('/recordings/:id/hold', { schema: { summary: 'Put a recording on legal hold: no deletion, by the sweeper or anyone, until released', tags: ['recordings'], params: IdParams, response: HoldReply } },
    async (request) => hold(request, request.params.id, true))
  app.delete('/recordings/:id/hold', { schema: { summary: 'Release a legal hold', tags: ['recordings'], params: IdParams, response: HoldReply } },
    async (request) => hold(request, request.params.id, false))

  app.delete('/recordings/:id', {
    schema: { summary: 'Delete a recording: every version of its object, and mark the row deleted', tags: ['recordings'], params: IdParams, response: { 204: Type.Null(), ...errorReplies, 410: Gone } }
  }, async (request, reply) => {
    await recordings.deleteRecording(await ownRecording(request, request.params.id), request.principal.actor)
    return reply.code(204).send(null)
  })
}

export default recordingRoutes
