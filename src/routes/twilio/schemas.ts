import { Type } from 'typebox'

/** The voice webhook parameters the server reads; Twilio sends many more, which are kept for the signature. */
export const VoiceParamsSchema = Type.Object({
  CallSid: Type.Optional(Type.String({ maxLength: 64 })),
  AccountSid: Type.Optional(Type.String({ maxLength: 64 })),
  From: Type.Optional(Type.String({ maxLength: 64 })),
  To: Type.Optional(Type.String({ maxLength: 64 })),
  Direction: Type.Optional(Type.String({ maxLength: 32 }))
}, { additionalProperties: Type.Union([Type.String(), Type.Array(Type.String())]) })

export const TwimlReply = {
  200: {
    description: 'TwiML',
    content: { 'text/xml': { schema: Type.String() } }
  }
}
