import { Type } from 'typebox'
import { MAX_INT4, QueryInteger } from '../query-params.js'

const Param = Type.String({ maxLength: 256 })
// Twilio sends many more parameters than the server reads; they are allowed (and signed).
const extra = { additionalProperties: Type.Union([Type.String(), Type.Array(Type.String())]) }

export const CallSid = Type.String({ pattern: '^CA[0-9a-fA-F]{32}$' })

/** Parameters of the voice webhook; the fallback asks for none, as it must answer whatever comes. */
export const FallbackParamsSchema = Type.Object({
  CallSid: Type.Optional(Param),
  From: Type.Optional(Param),
  To: Type.Optional(Param),
  Direction: Type.Optional(Param)
}, extra)

export const VoiceParamsSchema = Type.Object({
  CallSid,
  From: Param,
  To: Param,
  Direction: Type.Optional(Param),
  // Answering-machine detection's verdict on an outbound call (human, machine_start, fax, unknown…).
  AnsweredBy: Type.Optional(Type.String({ maxLength: 32 }))
}, extra)

export const FlowParamsSchema = Type.Object({
  CallSid,
  Digits: Type.Optional(Type.String({ maxLength: 32 })),
  DialCallStatus: Type.Optional(Type.String({ maxLength: 32 }))
}, extra)

export const FlowQuerySchema = Type.Object({
  node: Type.String({ minLength: 1, maxLength: 64 }),
  // The webhook step that emitted the URL; absent in URLs of older versions (see calls/replay.ts).
  step: Type.Optional(QueryInteger({ minimum: 1, maximum: MAX_INT4 }))
})

export const StatusParamsSchema = Type.Object({
  CallSid,
  CallStatus: Type.String({ maxLength: 32 }),
  CallDuration: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
  // Answering-machine detection's verdict on an outbound call: human, machine_start, fax, unknown…
  AnsweredBy: Type.Optional(Type.String({ maxLength: 32 })),
  Direction: Type.Optional(Param),
  From: Type.Optional(Param),
  To: Type.Optional(Param)
}, extra)

export const TwimlReply = {
  200: {
    description: 'TwiML',
    content: { 'text/xml': { schema: Type.String() } }
  }
}
