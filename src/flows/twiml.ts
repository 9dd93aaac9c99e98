// The few TwiML shapes the engine emits, built with the twilio package's VoiceResponse so that
// escaping and attribute spelling are Twilio's own.
import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js'

export { VoiceResponse }

/** The <Stream name> the engine starts and stops, so <Stop> can address it. */
export const RECORDING_STREAM_NAME = 'recording'
/** Twilio's default <Gather timeout> (https://www.twilio.com/docs/voice/twiml/gather#timeout). */
export const DEFAULT_GATHER_TIMEOUT = 5
/** Twilio's default <Dial timeout> (https://www.twilio.com/docs/voice/twiml/dial#timeout). */
export const DEFAULT_DIAL_TIMEOUT = 30

const APOLOGY = 'Sorry, we cannot take your call right now. Please try again later. Goodbye.'

export function say (
  response: VoiceResponse | VoiceResponse.Gather,
  text: string,
  voice?: string,
  language?: string
): void {
  const attributes: VoiceResponse.SayAttributes = {}
  // Twilio accepts many more voices (Polly.*, Google.*) than the package's literal unions list.
  if (voice !== undefined) attributes.voice = voice as NonNullable<VoiceResponse.SayAttributes['voice']>
  if (language !== undefined) attributes.language = language as NonNullable<VoiceResponse.SayAttributes['language']>
  response.say(attributes, text)
}

/**
 * One-digit <Gather>. actionOnEmptyResult makes Twilio post to the action on silence too;
 * without it Twilio would fall through to the end of the document and hang up
 * (https://www.twilio.com/docs/voice/twiml/gather#actiononemptyresult).
 */
export function gatherDigit (
  response: VoiceResponse,
  action: string,
  timeoutSeconds: number,
  prompts: string[]
): void {
  const gather = response.gather({
    input: ['dtmf'],
    numDigits: 1,
    timeout: timeoutSeconds,
    action,
    method: 'POST',
    actionOnEmptyResult: true,
  })
  for (const text of prompts) say(gather, text)
}

/** Forks both call legs to the media WebSocket (https://www.twilio.com/docs/voice/twiml/stream). */
export function startStream (response: VoiceResponse, url: string, token: string): void {
  response
    .start()
    .stream({ url, track: 'both_tracks', name: RECORDING_STREAM_NAME })
    .parameter({ name: 'token', value: token })
}

export function stopStream (response: VoiceResponse): void {
  response.stop().stream({ name: RECORDING_STREAM_NAME })
}

/** A short apology and <Hangup/>: what a caller hears when anything goes wrong. */
export function apologyTwiml (): string {
  const response = new VoiceResponse()
  say(response, APOLOGY)
  response.hangup()
  return response.toString()
}
