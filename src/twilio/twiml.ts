import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js'

export const APOLOGY = 'Sorry, we cannot take your call right now. Please try again later. Goodbye.'

/**
 * What a caller hears when the normal path cannot run (database down, handler failed, unknown
 * number): forwarded to the campaign's switchboard when it is known, otherwise a short apology.
 * Never a <Stream>: without the database there is no consent evidence, so nothing is recorded.
 */
export function fallbackTwiml (switchboard: string | null, callerId?: string): string {
  const response = new VoiceResponse()
  if (switchboard !== null) {
    const dial = response.dial(callerId !== undefined ? { callerId } : {})
    dial.number(switchboard)
  } else {
    response.say(APOLOGY)
    response.hangup()
  }
  return response.toString()
}
