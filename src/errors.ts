import createError from '@fastify/error'
import { Type } from 'typebox'

// One place for the application's error codes; routes throw these, the error handler answers them.
export const Unauthorized = createError('CG_UNAUTHORIZED', 'Missing or invalid API key', 401)
export const Forbidden = createError<[string]>('CG_FORBIDDEN', '%s', 403)
export const NotFound = createError<[string]>('CG_NOT_FOUND', '%s not found', 404)
export const BadRequest = createError<[string]>('CG_BAD_REQUEST', '%s', 400)
export const PayloadTooLarge = createError<[string]>('CG_PAYLOAD_TOO_LARGE', '%s', 413)
export const Conflict = createError<[string]>('CG_CONFLICT', '%s', 409)
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
