import createError from '@fastify/error'
import { Type } from 'typebox'

// One place for the application's error codes; routes throw these, the error handler answers them.
export const Unauthorized = createError('CG_UNAUTHORIZED', 'Missing or invalid API key', 401)
export const Forbidden = createError<[string]>('CG_FORBIDDEN', '%s', 403)
export const NotFound = createError<[string]>('CG_NOT_FOUND', '%s not found', 404)
export const BadRequest = createError<[string]>('CG_BAD_REQUEST', '%s', 400)
export const PayloadTooLarge = createError<[string]>('CG_PAYLOAD_TOO_LARGE', '%s', 413)
export const Conflict = createError<[string]>('CG_CONFLICT', '%s', 409)
export const UnsupportedMediaType = createError<[string]>('CG_UNSUPPORTED_MEDIA_TYPE', '%s', 415)
export const Gone = createError<[string]>('CG_GONE', '%s', 410)
export const Locked = createError<[string]>('CG_LOCKED', '%s', 423)
/** RFC 9110 §15.5.17: the thrower sets `Content-Range: bytes *\/<length>` on the reply first. */
export const RangeNotSatisfiable = createError<[string]>('CG_RANGE_NOT_SATISFIABLE', '%s', 416)
/**
 * Twilio's REST API refused or failed. The message is written here and names no upstream detail,
 * so the error handler shows it (see isShownServerError); Twilio's own error travels as `cause`
 * to the log: `throw new TwilioApiFailed('…', { cause: err })`.
 */
export const TwilioApiFailed = createError<[string, { cause: unknown }?]>('CG_TWILIO_API', '%s', 502)

/** The console's files are not there; the message says what to run (the thrower sets `Cache-Control: no-store` first). */
export const ConsoleNotBuilt = createError<[string]>('CG_CONSOLE_NOT_BUILT', '%s', 503)

/** The 5xx errors whose message the error handler may answer with; every other 5xx is hidden. */
export function isShownServerError (error: unknown): boolean {
  return error instanceof TwilioApiFailed || error instanceof ConsoleNotBuilt
}
/** A flow definition that breaks rules; `problems` lists every one (JSON-pointer path + message). */
export class InvalidFlow extends Error {
  readonly statusCode = 400
  readonly code = 'CG_INVALID_FLOW'
  constructor (readonly problems: Array<{ path: string, message: string }>, what = 'definition') {
    super(`${what} has ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.map((p) => `${p.path || '/'} ${p.message}`).slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''}`)
  }
}

/** A number that may not be dialled; `reason` says why (suppressed, registry, restricted, cap, invalid, hours, ended). */
export class NotCallable extends Error {
  readonly statusCode = 409
  readonly code = 'CG_NOT_CALLABLE'
  constructor (readonly reason: string) {
    super(`not callable: ${reason}`)
  }
}

export const BadTwilioSignature = createError('CG_TWILIO_SIGNATURE', 'Missing or invalid X-Twilio-Signature', 403)
/** The process is overloaded (event loop lagging, database not answering): answered at once, with Retry-After. */
export const Overloaded = createError('CG_OVERLOADED', 'The server is overloaded; retry later', 503)
/** The overload guard's last database check failed: the voice webhooks answer the fallback without trying it. */
export const DatabaseUnavailable = createError('CG_DATABASE_UNAVAILABLE', 'The database did not answer its last health check', 503)

export const ErrorReplySchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.Optional(Type.String()),
  error: Type.String(),
  message: Type.String(),
  problems: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  reason: Type.Optional(Type.String())
}, { $id: 'ErrorReply' })

export const errorReplies = {
  400: Type.Ref('ErrorReply'),
  401: Type.Ref('ErrorReply'),
  403: Type.Ref('ErrorReply'),
  404: Type.Ref('ErrorReply'),
  409: Type.Ref('ErrorReply')
}

/** Routes that call Twilio's REST API add this beside errorReplies. */
export const upstreamErrorReplies = { 502: Type.Ref('ErrorReply') }
