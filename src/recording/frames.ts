// The messages Twilio sends over a Media Streams WebSocket, as documented in "Media Streams -
// WebSocket Messages" (https://www.twilio.com/docs/voice/media-streams/websocket-messages).
// Every frame is checked against the schema of its own `event` before anything reads it, so a
// malformed or unknown frame is counted and skipped by the caller instead of being trusted.
// Objects stay open (extra properties allowed): Twilio may add fields without notice, and a new
// field must not turn every frame of a call into "malformed".
import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'

// Twilio sends sequenceNumber, chunk and timestamp as decimal strings, not JSON numbers.
const DecimalString = Type.String({ pattern: '^[0-9]{1,15}$' })

// Standard base64 (RFC 4648 section 4) with padding, which is what Twilio's payloads use.
// Buffer.from(s, 'base64') silently skips bad characters, so the shape is checked first.
const Base64 = Type.String({
  pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$',
})

/** `inbound` is the audio Twilio receives from the caller, `outbound` what Twilio plays to them. */
export const TrackSchema = Type.Union([Type.Literal('inbound'), Type.Literal('outbound')])
export type Track = Static<typeof TrackSchema>

export const ConnectedFrameSchema = Type.Object({
  event: Type.Literal('connected'),
  protocol: Type.String(),
  version: Type.String(),
})

export const MediaFormatSchema = Type.Object({
  encoding: Type.String(),
  sampleRate: Type.Integer({ minimum: 1 }),
  channels: Type.Integer({ minimum: 1 }),
})
export type MediaFormat = Static<typeof MediaFormatSchema>

export const StartFrameSchema = Type.Object({
  event: Type.Literal('start'),
  sequenceNumber: DecimalString,
  streamSid: Type.String({ minLength: 1 }),
  start: Type.Object({
    streamSid: Type.String({ minLength: 1 }),
    accountSid: Type.String({ minLength: 1 }),
    callSid: Type.String({ minLength: 1 }),
    tracks: Type.Array(TrackSchema),
    mediaFormat: MediaFormatSchema,
    // <Stream><Parameter name value/> pairs from the TwiML, always strings.
    customParameters: Type.Record(Type.String(), Type.String()),
  }),
})

export const MediaFrameSchema = Type.Object({
  event: Type.Literal('media'),
  sequenceNumber: DecimalString,
  streamSid: Type.String({ minLength: 1 }),
  media: Type.Object({
    track: TrackSchema,
    // Chunk numbers count per track from 1; timestamp is milliseconds since the stream began.
    chunk: DecimalString,
    timestamp: DecimalString,
    payload: Base64,
  }),
})

export const StopFrameSchema = Type.Object({
  event: Type.Literal('stop'),
  sequenceNumber: DecimalString,
  streamSid: Type.String({ minLength: 1 }),
  stop: Type.Object({
    accountSid: Type.String({ minLength: 1 }),
    callSid: Type.String({ minLength: 1 }),
  }),
})

// Marks echo back names we sent on a bidirectional stream; the docs show a sequenceNumber on
// them too, but nothing here depends on it.
export const MarkFrameSchema = Type.Object({
  event: Type.Literal('mark'),
  sequenceNumber: Type.Optional(DecimalString),
  streamSid: Type.String({ minLength: 1 }),
  mark: Type.Object({ name: Type.String() }),
})

export type ConnectedFrame = Static<typeof ConnectedFrameSchema>
export type StartFrame = Static<typeof StartFrameSchema>
export type MediaFrame = Static<typeof MediaFrameSchema>
export type StopFrame = Static<typeof StopFrameSchema>
export type MarkFrame = Static<typeof MarkFrameSchema>
export type Frame = ConnectedFrame | StartFrame | MediaFrame | StopFrame | MarkFrame
export type FrameEvent = Frame['event']

// Compiled once per process; each event has its own validator so that the reason names the
// field that is wrong rather than "matches none of five schemas".
const validators = {
  connected: Compile(ConnectedFrameSchema),
  start: Compile(StartFrameSchema),
  media: Compile(MediaFrameSchema),
  stop: Compile(StopFrameSchema),
  mark: Compile(MarkFrameSchema),
}

function isFrameEvent (event: unknown): event is FrameEvent {
  return typeof event === 'string' && Object.hasOwn(validators, event)
}

export type ParseResult = { ok: true; frame: Frame } | { ok: false; reason: string }

/** Reads one WebSocket text message. Never throws: a bad frame is a reason, not an exception. */
export function parseFrame (text: string): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'not a JSON object' }
  }
  const event: unknown = (value as { event?: unknown }).event
  if (!isFrameEvent(event)) {
    return { ok: false, reason: `unknown event ${JSON.stringify(event) ?? 'undefined'}` }
  }
  const validator = validators[event]
  if (validator.Check(value)) return { ok: true, frame: value }
  // The first few problems are enough to tell a Twilio change from a corrupt frame in the logs.
  const problems = validator.Errors(value).slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message}`)
  return { ok: false, reason: `${event}: ${problems.join('; ')}` }
}

export interface MediaAudio {
  track: Track;
  timestampMs: number;
  /** Valid until the next call of mediaAudio: copy it or use it at once. */
  payload: Buffer;
}

// The assembler copies each payload as it is pushed, so one scratch buffer serves every frame of
// every stream: a fresh Buffer per frame (100 a second per stream, 16 MB/s at 1,000 streams) was
// the largest source of garbage on the media path. Twilio's frames are 160 bytes.
const scratch = Buffer.allocUnsafe(4096)

/** The audio of a validated media frame, decoded for the assembler. */
export function mediaAudio (frame: MediaFrame): MediaAudio {
  const text = frame.media.payload
  const payload =
    (text.length / 4) * 3 <= scratch.length ? scratch.subarray(0, scratch.write(text, 'base64')) : Buffer.from(text, 'base64')
  return { track: frame.media.track, timestampMs: Number(frame.media.timestamp), payload }
}

/**
 * Media Streams deliver "audio/x-mulaw" at 8000 Hz, one channel per track (same docs, "Start
 * message"). The assembler assumes exactly that, so anything else must end the recording.
 */
export function isSupportedFormat (format: MediaFormat): boolean {
  return format.encoding === 'audio/x-mulaw' && format.sampleRate === 8000 && format.channels === 1
}
