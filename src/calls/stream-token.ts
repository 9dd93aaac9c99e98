import { createHash, createHmac } from 'node:crypto'
import type { StepResult } from '../flows/index.js'

/**
 * Stream tokens are derived, not drawn: the token a step issues is HMAC(key, CallSid, step). The
 * answer kept for Twilio's retry of a step (calls.last_twiml) then holds a placeholder where the
 * token goes, and the retry's answer gets the very same token back by deriving it again. So no
 * row (nor the WAL, a backup or the tenant export) holds a live token in clear: stream_tokens
 * keeps its SHA-256 only, as it always did, and it still admits one stream.
 *
 * The key is derived from LINK_SECRET, which every process of an installation shares (the
 * consistency check makes sure): a retry answered by another process derives the same token.
 * Anyone holding LINK_SECRET can already mint links to every recording, so it gains nothing.
 */
export type StreamTokenKey = Buffer

export function streamTokenKey (linkSecret: string): StreamTokenKey {
  return createHmac('sha256', linkSecret).update('callgate:stream-token').digest()
}

/** The token step `step` of call `callSid` issues: 24 bytes, base64url (as the drawn ones were). */
export function streamTokenFor (key: StreamTokenKey, callSid: string, step: number): string {
  return createHmac('sha256', key).update(`${callSid}\n${step}`).digest().subarray(0, 24).toString('base64url')
}

/** What stream_tokens stores of a token. */
export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex')

// Where a token was, in a stored answer. It holds `<`, which the TwiML serializer escapes in every
// text and attribute (to `&lt;`), so no prompt or URL a flow author writes can ever produce it,
// and a stored answer served by mistake as it is would be malformed XML, not a working stream.
export const TOKEN_PLACEHOLDER = '<stream-token>'

/** The step's answer as it may be stored: each token it issues replaced by the placeholder. */
export function twimlAtRest (result: Pick<StepResult, 'twiml' | 'effects'>): string {
  let twiml = result.twiml
  for (const effect of result.effects) {
    if (effect.type === 'startRecording') twiml = twiml.split(effect.token).join(TOKEN_PLACEHOLDER)
  }
  return twiml
}

/** A stored answer of step `step` as Twilio must get it again: the same tokens, derived anew. */
export function replayTwiml (key: StreamTokenKey, call: { callSid: string, lastStep: number, lastTwiml: string | null }): string {
  const stored = call.lastTwiml!
  if (!stored.includes(TOKEN_PLACEHOLDER)) return stored
  return stored.split(TOKEN_PLACEHOLDER).join(streamTokenFor(key, call.callSid, call.lastStep))
}
