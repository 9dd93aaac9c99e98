import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js'
import { apologyTwiml } from '../flows/index.js'

/**
 * What a caller hears when the normal path cannot run (database down, handler failed, unknown
 * number, campaign over): forwarded to the campaign's switchboard when it is known, otherwise a
 * short apology. Never a <Stream>: without the database there is no consent evidence.
 * Without a callerId attribute Twilio presents the original caller's number on the forwarded leg.
 */
export function forwardOrApologise (switchboard: string | null): string {
  if (switchboard === null) return apologyTwiml()
  const response = new VoiceResponse()
  response.dial().number(switchboard)
  return response.toString()
}

/** An empty answer, for callbacks such as the status callback that expect no instructions. */
export function emptyTwiml (): string {
  return new VoiceResponse().toString()
}

/** Ends the call, saying nothing: the answer to a flow step that arrives after the call ended. */
export function hangupTwiml (): string {
  const response = new VoiceResponse()
  response.hangup()
  return response.toString()
}
