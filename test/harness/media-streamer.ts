// Twilio's side of a Media Stream (https://www.twilio.com/docs/voice/media-streams/websocket-messages):
// connected, start (with the <Stream> parameters), media frames of 20 ms of µ-law per track,
// stop. One client for every test, over either transport: `app.injectWS` in-process, or a real
// WebSocket to a server on 127.0.0.1. The upgrade is signed as Twilio signs it: over the wss URL
// of PUBLIC_URL, whichever address the socket really reaches.
import { WebSocket } from 'ws'
import type { App } from '../../src/app.js'
import { twilioSignature } from '../../src/twilio/signature.js'
import { PUBLIC_URL, TWILIO_TOKEN } from '../helper.js'

/** The URL Twilio is told in <Stream url> under the tests' PUBLIC_URL, and signs the upgrade with. */
export const STREAM_URL = 'wss://voice.callgate.test/twilio/media'

export interface Closed { code: number, reason: string }

export interface StreamOptions {
  /** The URL the upgrade is signed for (default: PUBLIC_URL's /twilio/media as wss). */
  signedUrl?: string
  token?: string
}

const signedStreamUrl = (publicUrl: string) => `${publicUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/twilio/media`

/** Distinct pseudo-random µ-law per track (0 inbound, 1 outbound) and 20 ms slot, never 0xFF (silence). */
export function payloadFor (track: number, slot: number): Buffer {
  const out = Buffer.alloc(160)
  let x = (track * 7919 + slot * 104729 + 1) >>> 0
  for (let i = 0; i < 160; i++) { x = (x * 1664525 + 1013904223) >>> 0; out[i] = (x >>> 24) % 255 }
  return out
}

/** The two-channel audio (caller left, interleaved byte by byte) that slots `from`…`to` of payloadFor make. */
export function expectedSlots (from: number, to: number): Buffer {
  const audio = Buffer.alloc((to - from) * 320)
  for (let slot = from; slot < to; slot++) {
    const left = payloadFor(0, slot)
    const right = payloadFor(1, slot)
    const at = (slot - from) * 320
    for (let s = 0; s < 160; s++) { audio[at + s * 2] = left[s]!; audio[at + s * 2 + 1] = right[s]! }
  }
  return audio
}

/** The audio a recording of `seconds` streamed with `play` must hold. */
export const expectedAudio = (seconds: number): Buffer => expectedSlots(0, seconds * 50)

export interface PlayOptions {
  /**
   * 'virtual' (default): as fast as the socket takes them, each frame stamped as if 20 ms after
   * the one before. 'realtime': slot k is not sent before 20 k ms after the first, as Twilio does.
   */
  pacing?: 'virtual' | 'realtime'
  /** Realtime only: how often the sender wakes up to send what is due (default 20 ms). */
  tickMs?: number
  /** Terminates the socket (no stop, no close handshake) once this many slots were sent. */
  cutAfter?: number
  /** Called after each slot went out (both tracks). */
  onSlot?: (slot: number) => void
}

export interface Played {
  /** Slots sent before the socket closed (fewer than asked when the server went away) or was cut. */
  slots: number
  /** The socket closed (or was cut) before every slot was sent. */
  cut: boolean
  /** When slot 0 went out (realtime: slot k is never sent before startedAt + 20 k ms). */
  startedAt: number
}

// A socket holding this much unsent is given time to drain before more is queued.
const HIGH_WATER = 4 * 1024 * 1024

export class MediaStream {
  private seq = 0
  streamSid = 'MZ' + '1'.repeat(32)
  callSid = ''

  constructor (readonly ws: WebSocket, readonly closed: Promise<Closed>) {}

  get open (): boolean { return this.ws.readyState === WebSocket.OPEN }

  /** Sends a frame (an object is JSON-encoded; a string goes as it is); nothing once the socket closed. */
  send (frame: unknown): void {
    if (this.open) this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  connected (): void {
    this.send({ event: 'connected', protocol: 'Call', version: '1.0.0' })
  }

  /** The start message; `token` is the <Stream><Parameter name="token"> (none: no parameters). */
  start (callSid: string, token: string | undefined): void {
    this.callSid = callSid
    this.streamSid = 'MZ' + callSid.slice(2).padEnd(32, '0').slice(0, 32)
    this.send(startFrame(callSid, token, this.streamSid, ++this.seq))
  }

  /** One 20 ms frame of `track` at `ms` since the stream began. */
  media (track: 'inbound' | 'outbound', ms: number, payload: Buffer): void {
    this.send({ event: 'media', sequenceNumber: String(++this.seq), streamSid: this.streamSid, media: { track, chunk: String(Math.floor(ms / 20) + 1), timestamp: String(ms), payload: payload.toString('base64') } })
  }

  stop (): void {
    this.send({ event: 'stop', sequenceNumber: String(++this.seq), streamSid: this.streamSid, stop: { accountSid: 'AC' + '0'.repeat(32), callSid: this.callSid } })
  }

  /** Slots `from`…`to` of both tracks (payloadFor), paced as `opts` says. */
  async play (from: number, to: number, opts: PlayOptions = {}): Promise<Played> {
    const realtime = opts.pacing === 'realtime'
    const startedAt = Date.now()
    // Sends `slot` of both tracks; the slot after it.
    const sendSlot = (slot: number): number => {
      this.media('inbound', slot * 20, payloadFor(0, slot))
      this.media('outbound', slot * 20, payloadFor(1, slot))
      opts.onSlot?.(slot)
      if (opts.cutAfter !== undefined && slot + 1 - from >= opts.cutAfter) this.ws.terminate()
      return slot + 1
    }
    let slot = from
    while (slot < to && this.open) {
      if (realtime) {
        const due = Math.min(to, from + Math.floor((Date.now() - startedAt) / 20) + 1)
        while (slot < due && this.open) slot = sendSlot(slot)
        if (slot < to) await new Promise((resolve) => setTimeout(resolve, opts.tickMs ?? 20))
      } else {
        slot = sendSlot(slot)
        if (this.ws.bufferedAmount > HIGH_WATER) {
          while (this.open && this.ws.bufferedAmount > HIGH_WATER / 2) await new Promise((resolve) => setTimeout(resolve, 1))
        }
      }
    }
    return { slots: slot - from, cut: slot < to || !this.open, startedAt }
  }

  terminate (): void {
    this.ws.terminate()
  }
}

export function startFrame (callSid: string, token: string | undefined, streamSid = 'MZ' + '1'.repeat(32), sequenceNumber = 1) {
  return {
    event: 'start',
    sequenceNumber: String(sequenceNumber),
    streamSid,
    start: { streamSid, accountSid: 'AC' + '0'.repeat(32), callSid, tracks: ['inbound', 'outbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 }, customParameters: token === undefined ? {} : { token } }
  }
}

/** A stream to the app in-process (fastify's injectWS); the upgrade signed for PUBLIC_URL. */
export async function injectStream (app: App, opts: StreamOptions = {}): Promise<MediaStream> {
  let done!: (closed: Closed) => void
  const closed = new Promise<Closed>((resolve) => { done = resolve })
  const ws = await app.injectWS('/twilio/media', { headers: { 'x-twilio-signature': twilioSignature(opts.token ?? TWILIO_TOKEN, opts.signedUrl ?? STREAM_URL, {}) } }, {
    onInit: (socket) => socket.on('close', (code, reason) => done({ code, reason: reason.toString() }))
  })
  return new MediaStream(ws, closed)
}

/**
 * A stream to a server at `base` (http://127.0.0.1:port) over a real WebSocket; the upgrade
 * signed for `publicUrl`. Resolves once open, or null when the server refused or was gone.
 */
export async function connectStream (base: string, opts: StreamOptions & { publicUrl?: string } = {}): Promise<MediaStream | null> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/twilio/media`, { headers: { 'x-twilio-signature': twilioSignature(opts.token ?? TWILIO_TOKEN, opts.signedUrl ?? signedStreamUrl(opts.publicUrl ?? PUBLIC_URL), {}) } })
  // A server that goes away under the stream is what some tests are about: not an error here.
  ws.on('error', () => {})
  const closed = new Promise<Closed>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const opened = await Promise.race([new Promise<boolean>((resolve) => ws.once('open', () => resolve(true))), closed.then(() => false)])
  return opened ? new MediaStream(ws, closed) : null
}

/**
 * A whole stream to the server at `base`, as Twilio sends one: start with the token, `seconds`
 * of both tracks in real time, stop. Resolves once the socket closed, with what `play` says
 * (fewer slots than asked, and cut, when the server went away).
 */
export async function streamOverHttp (base: string, callSid: string, token: string, seconds: number): Promise<Played> {
  const stream = await connectStream(base)
  if (stream === null) return { slots: 0, cut: true, startedAt: Date.now() }
  stream.start(callSid, token)
  // Twilio's audio starts after the stream is set up; the server needs a moment to admit it.
  await new Promise((resolve) => setTimeout(resolve, 300))
  const played = await stream.play(0, seconds * 50, { pacing: 'realtime' })
  stream.stop()
  setTimeout(() => stream.ws.close(), 200).unref()
  await stream.closed
  return played
}
