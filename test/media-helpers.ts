// Shared by the recording and controller tests: a tenant with a published flow, callers who
// consent, and a scripted Twilio Media Stream through injectWS.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import type { Test } from 'tap'
import type { WebSocket } from 'ws'
import type { App, AppOverrides } from '../src/app.js'
import { callEvents, calls, recordings } from '../src/db/schema.js'
import { twilioSignature } from '../src/twilio/signature.js'
import { admin, bearer, build, fixedClock, signedTwilio, TWILIO_TOKEN } from './helper.js'

export const definition = JSON.parse(readFileSync(new URL('./fixtures/flows/valid/design-example.json', import.meta.url), 'utf8'))
export const NUMBER = '+442079460018'
export const STREAM_URL = 'wss://voice.callgate.test/twilio/media'
let sidCounter = 0x500
export const newSid = () => 'CA' + (++sidCounter).toString(16).padStart(32, '0')

export async function setup (t: Test, env: Record<string, string> = {}, overrides: AppOverrides = {}) {
  const clock = fixedClock('2026-11-24T10:00:00Z')
  const app = await build(t, { env, overrides: { clock, recorder: { spoolRetryMs: 3_600_000, controlPollMs: 3_600_000 }, ...overrides } })
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id
  const ops = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'ops', name: 'O', email: 'o@acme.test' } })).json().apiKey)
  const campaignId = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: { name: 'A', timezone: 'Europe/London', hours: { tue: [['09:00', '17:00']] }, switchboard: '+442079460000', retention: { recordingsDays: 90, callLogDays: 365, redactAfterDays: 30 }, lawfulBasis: 'consent' } })).json().id
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'R', campaignId } })).json().id
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition } })
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: ops })
  await app.inject({ method: 'POST', url: '/api/numbers', headers: ops, payload: { number: NUMBER, campaignId, flowId } })
  const agent = (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'agent', name: 'Ann', email: 'ann@acme.test' } })).json()
  return { app, tenantId, clock, agent: { id: agent.id as string, headers: bearer(agent.apiKey) } }
}

/** A caller who consents (or not): returns the CallSid and the stream token from the TwiML. */
export async function consentingCall (app: App, digit = '1', from = '+447700900123'): Promise<{ callSid: string, token: string }> {
  const callSid = newSid()
  const base = { CallSid: callSid, From: from, To: NUMBER }
  await app.inject(signedTwilio('/twilio/voice', base))
  const res = await app.inject(signedTwilio('/twilio/flow?node=consent', { ...base, Digits: digit }))
  if (digit !== '1') return { callSid, token: '' }
  const token = /<Parameter name="token" value="([^"]+)"/.exec(res.body)?.[1]
  if (token === undefined) throw new Error('no token in ' + res.body)
  return { callSid, token }
}

export async function openStream (app: App): Promise<{ ws: WebSocket, closed: Promise<number> }> {
  let resolveClosed!: (code: number) => void
  const closed = new Promise<number>((resolve) => { resolveClosed = resolve })
  const ws = await app.injectWS('/twilio/media', { headers: { 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, STREAM_URL, {}) } }, {
    onInit: (socket) => socket.on('close', (code) => resolveClosed(code))
  })
  return { ws, closed }
}

export const startFrame = (callSid: string, token: string | undefined) => JSON.stringify({
  event: 'start',
  sequenceNumber: '1',
  streamSid: 'MZ' + '1'.repeat(32),
  start: { streamSid: 'MZ' + '1'.repeat(32), accountSid: 'AC' + '0'.repeat(32), callSid, tracks: ['inbound', 'outbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 }, customParameters: token === undefined ? {} : { token } }
})
let sequence = 1
export const mediaFrame = (track: string, ms: number, payload: Buffer) => JSON.stringify({ event: 'media', sequenceNumber: String(++sequence), streamSid: 'MZ' + '1'.repeat(32), media: { track, chunk: String(ms / 20), timestamp: String(ms), payload: payload.toString('base64') } })

export const stopFrame = (callSid: string) => JSON.stringify({ event: 'stop', sequenceNumber: String(++sequence), streamSid: 'MZ' + '1'.repeat(32), stop: { accountSid: 'AC' + '0'.repeat(32), callSid } })

/** Distinct pseudo-random µ-law per track and frame (never 0xFF, the silence byte). */
export function payloadFor (track: number, slot: number): Buffer {
  const out = Buffer.alloc(160)
  let x = (track * 7919 + slot * 104729 + 1) >>> 0
  for (let i = 0; i < 160; i++) { x = (x * 1664525 + 1013904223) >>> 0; out[i] = (x >>> 24) % 255 }
  return out
}

/** Twilio streams in real time; the test sends as fast as it can, so it waits for admission first. */
export async function admitted (app: App, callSid: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const [call] = await app.database.db.select({ id: calls.id }).from(calls).where(eq(calls.callSid, callSid))
    const started = await app.database.db.select().from(callEvents).where(eq(callEvents.callId, call!.id))
    if (started.some((e) => e.outcome === 'recording-started')) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error('stream not admitted')
}

export async function settle (app: App): Promise<void> {
  for (let i = 0; i < 200 && app.recordingsInFlight.size === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  while (app.recordingsInFlight.size > 0) await Promise.allSettled([...app.recordingsInFlight])
}

/**
 * Streams `seconds` of a consented call's audio (and, unless told not to, its stop) without
 * waiting for the recording to be stored; returns the open socket and the expected audio.
 */
export async function streamCall (app: App, from: string, seconds: number, opts: { stop?: boolean } = {}) {
  const { callSid, token } = await consentingCall(app, '1', from)
  const { ws } = await openStream(app)
  ws.send(startFrame(callSid, token))
  await admitted(app, callSid)
  const audio = Buffer.alloc(seconds * 50 * 320)
  for (let slot = 0; slot < seconds * 50; slot++) {
    const left = payloadFor(0, slot)
    const right = payloadFor(1, slot)
    for (let s = 0; s < 160; s++) { audio[slot * 320 + s * 2] = left[s]!; audio[slot * 320 + s * 2 + 1] = right[s]! }
    ws.send(mediaFrame('inbound', slot * 20, left))
    ws.send(mediaFrame('outbound', slot * 20, right))
  }
  if (opts.stop !== false) ws.send(stopFrame(callSid))
  return { callSid, ws, audio }
}

/** Records `seconds` of a consented call through the real pipeline; returns the expected audio. */
export async function recordCall (app: App, from: string, seconds: number) {
  const { callSid, ws, audio } = await streamCall(app, from, seconds)
  await settle(app)
  ws.terminate()
  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.callSid, callSid))
  return { callSid, recordingId: row!.id, audio }
}

/** The µ-law WAV a stored recording of `audio` must play as, written out independently of src/recording/wav.ts. */
export function wav (audio: Buffer): Buffer {
  const h = Buffer.alloc(58)
  h.write('RIFF', 0); h.writeUInt32LE(50 + audio.length, 4); h.write('WAVEfmt ', 8); h.writeUInt32LE(18, 16)
  h.writeUInt16LE(7, 20); h.writeUInt16LE(2, 22); h.writeUInt32LE(8000, 24); h.writeUInt32LE(16000, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(8, 34); h.writeUInt16LE(0, 36)
  h.write('fact', 38); h.writeUInt32LE(4, 42); h.writeUInt32LE(audio.length / 2, 46); h.write('data', 50); h.writeUInt32LE(audio.length, 54)
  return Buffer.concat([h, audio])
}

/** A consented second of audio whose upload did not happen (S3 made to refuse it): its row and spool file. */
export async function spooledRecording (app: App, from: string) {
  const { callSid, ws } = await streamCall(app, from, 1)
  await settle(app)
  ws.terminate()
  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.callSid, callSid))
  return { row: row!, file: join(app.spoolDir, `${row!.id}.enc`) }
}
