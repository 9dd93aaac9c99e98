import type { Config } from '../config.js'

export interface TwilioRest {
  /** Starts a media stream on a live call without replacing what the call is doing (Streams resource). */
  startStream (callSid: string, stream: { url: string, name: string, token: string }): Promise<void>
  /** Places an outbound call; Twilio fetches `url` (our /twilio/voice) when it is answered. */
  placeCall (call: { to: string, from: string, url: string, statusCallback: string, machineDetection?: 'Enable' | 'DetectMessageEnd' | undefined }): Promise<{ sid: string, status: string }>
  /**
   * Points one of the account's numbers at this server (its voice URL, status callback and
   * fallback URL, all POST). Null when the account has no such number.
   */
  configureNumber (number: string, urls: { voice: string, status: string, fallback: string }): Promise<{ sid: string } | null>
}

/** What the calls' services need of it. */
export type TwilioCalls = Pick<TwilioRest, 'startStream' | 'placeCall'>

/**
 * Twilio's REST API through the twilio package, loaded on first use (it costs ~100 ms to load).
 * The Streams resource is used rather than updating the call's TwiML: an update would cut the
 * caller out of the menu or conversation they are in.
 * https://www.twilio.com/docs/voice/api/stream-resource
 */
export function createTwilioRest (config: Pick<Config, 'twilioAccountSid' | 'twilioAuthToken' | 'twilioApiUrl'>): TwilioRest | null {
  const accountSid = config.twilioAccountSid
  if (accountSid === null) return null
  let client: Promise<import('twilio').Twilio> | undefined
  const load = async () => {
    const { default: twilio } = await import('twilio')
    const c = twilio(accountSid, config.twilioAuthToken)
    c.api.baseUrl = config.twilioApiUrl
    return c
  }
  return {
    startStream: async (callSid, stream) => {
      client ??= load()
      await (await client).calls(callSid).streams.create({
        url: stream.url,
        name: stream.name,
        track: 'both_tracks',
        'parameter1.name': 'token',
        'parameter1.value': stream.token
      })
    },
    placeCall: async (call) => {
      client ??= load()
      const created = await (await client).calls.create({
        to: call.to,
        from: call.from,
        url: call.url,
        method: 'POST',
        statusCallback: call.statusCallback,
        statusCallbackMethod: 'POST',
        statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
        ...(call.machineDetection !== undefined ? { machineDetection: call.machineDetection } : {})
      })
      return { sid: created.sid, status: created.status }
    },
    configureNumber: async (number, urls) => {
      client ??= load()
      const c = await client
      const [found] = await c.incomingPhoneNumbers.list({ phoneNumber: number, limit: 1 })
      if (found === undefined) return null
      await c.incomingPhoneNumbers(found.sid).update({
        voiceUrl: urls.voice,
        voiceMethod: 'POST',
        statusCallback: urls.status,
        statusCallbackMethod: 'POST',
        voiceFallbackUrl: urls.fallback,
        voiceFallbackMethod: 'POST'
      })
      return { sid: found.sid }
    }
  }
}
