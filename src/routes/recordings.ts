import rateLimit from '@fastify/rate-limit'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { audited } from '../audit/audited.js'
import { Conflict, Forbidden, Gone, Locked, RangeNotSatisfiable } from '../errors.js'
import { findRecording } from '../db/recordings.js'
import { parseLink } from '../recording/link-token.js'
import { admitLink } from '../recording/links.js'
import { playback } from '../recording/playback.js'
import { parseRange, WAV_HEADER_BYTES } from '../recording/wav.js'

const Problem = Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String() })
const LINK_REFUSAL = { 403: Forbidden, 410: Gone, 423: Locked } as const

/**
 * Requests one client may make to /recordings/:id a minute: room for a player's ranges and seeks,
 * none for spraying guesses over many links. The count is per process (in memory); what holds
 * across processes and restarts is each link's own lock after MAX_PIN_FAILURES, in the database.
 */
export const PLAYBACK_RATE_LIMIT = { max: 60, timeWindowMs: 60_000 }

/**
 * GET /recordings/:id?token=… — what a signed link points at. No API key: the HMAC token is the
 * credential, and its row in recording_links says whether it still holds (not revoked, not locked,
 * issuer still allowed). Streams S3 → decrypt → audio/wav, with Range support; every fetch is audited.
 */
const playbackRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Registered here, not in app.ts: this plugin is encapsulated, so only the playback route is limited.
  await app.register(rateLimit, {
    max: PLAYBACK_RATE_LIMIT.max,
    timeWindow: PLAYBACK_RATE_LIMIT.timeWindowMs,
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'Too Many Requests',
      message: `too many recording fetches: at most ${context.max} a minute per client; retry in ${context.after}`
    })
  })

  app.get('/recordings/:id', {
    schema: {
      summary: 'Listen to a recording through a signed link',
      tags: ['recordings'],
      security: [],
      params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
      querystring: Type.Object({ token: Type.String({ minLength: 1, maxLength: 2048 }) }),
      headers: Type.Object({ 'x-recording-pin': Type.Optional(Type.String({ maxLength: 12 })), range: Type.Optional(Type.String({ maxLength: 200 })) }),
      response: {
        200: { description: 'the whole recording', content: { 'audio/wav': { schema: Type.String({ format: 'binary' }) } } },
        206: { description: 'a byte range', content: { 'audio/wav': { schema: Type.String({ format: 'binary' }) } } },
        403: Type.Ref('ErrorReply'),
        409: Type.Ref('ErrorReply'),
        410: Type.Ref('ErrorReply'),
        416: Type.Ref('ErrorReply'),
        423: Type.Ref('ErrorReply'),
        429: Problem
      }
    }
  }, async (request, reply) => {
    const now = app.clock.now()
    const parsed = parseLink(request.query.token, request.params.id, now)
    const check = parsed.ok
      ? await admitLink(app.database.db, app.config.linkSecret, parsed.link, request.headers['x-recording-pin'], { now, ip: request.ip })
      : { ok: false as const, status: 403 as const, reason: parsed.reason, message: `link refused: ${parsed.reason}` }
    if (!check.ok) {
      request.log.warn({ recordingId: request.params.id, reason: check.reason }, 'recording link refused')
      throw new LINK_REFUSAL[check.status](check.message)
    }
    const row = await findRecording(app.database.db, request.params.id)
    // The token is genuine, so the recording existed: missing now means erased.
    if (row === null || row.deletedAt !== null) throw new Gone('the recording was deleted')
    if (row.status !== 'stored' || row.plainBytes === null) throw new Conflict(`the recording is ${row.status}`)
    const size = WAV_HEADER_BYTES + row.plainBytes
    const etag = `"${row.sha256!.slice(0, 32)}"`
    const range = parseRange(request.headers.range, size)
    if (range === 'unsatisfiable') {
      // The error handler keeps headers already set (it drops only content-type and -length).
      reply.header('content-range', `bytes */${size}`)
      throw new RangeNotSatisfiable(`the recording has ${size} bytes`)
    }
    const slice = range ?? { start: 0, end: size - 1 }
    await audited(app.database.db, {
      tenantId: row.tenantId,
      actor: check.issuedBy,
      action: 'recording.fetch',
      subject: `recording:${row.id}`,
      details: { via: 'signed-link', link: check.linkId, range: range === null ? 'all' : `${slice.start}-${slice.end}`, ip: request.ip },
      at: now
    })
    const body = await playback(app.objectStore, (await app.tenantKeys.forTenant(row.tenantId)).keyring, { ...row, plainBytes: row.plainBytes }, slice)
    reply
      .header('content-type', 'audio/wav')
      .header('accept-ranges', 'bytes')
      .header('etag', etag)
      .header('cache-control', 'private, no-store')
      .header('content-length', String(slice.end - slice.start + 1))
    if (range !== null) reply.code(206).header('content-range', `bytes ${slice.start}-${slice.end}/${size}`)
    return reply.send(body as never)
  })
}

export default playbackRoutes
