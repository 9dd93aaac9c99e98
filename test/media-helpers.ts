// Shared by the recording and controller tests: the app in-process with a tenant whose flow is
// published on NUMBER, and what they do with it through test/harness/ (a caller who consents, a
// Media Stream through injectWS), waiting on the app's own state.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import type { Test } from 'tap'
import type { App, AppOverrides } from '../src/app.js'
import { callEvents, calls, recordings } from '../src/db/schema.js'
import { eventually } from './harness/eventually.js'
import { expectedAudio, injectStream, type MediaStream } from './harness/media-streamer.js'
import { injectTransport, NUMBER, twilioCaller } from './harness/twilio-caller.js'
import { admin, bearer, build, fixedClock } from './helper.js'

export const definition = JSON.parse(readFileSync(new URL('./fixtures/flows/valid/design-example.json', import.meta.url), 'utf8'))
export { NUMBER, newSid } from './harness/twilio-caller.js'
export { payloadFor, STREAM_URL } from './harness/media-streamer.js'

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
  const call = twilioCaller(injectTransport(app), { from })
  await call.start()
  const res = await call.press(digit)
  if (digit !== '1') return { callSid: call.callSid, token: '' }
  const token = call.token()
  if (token === undefined) throw new Error('no token in ' + res.body)
  return { callSid: call.callSid, token }
}

/** A media stream to the app, its upgrade signed as Twilio signs it. */
export const openStream = async (app: App): Promise<MediaStream> => await injectStream(app)

/** Twilio streams in real time; the test sends as fast as it can, so it waits for admission first. */
export async function admitted (app: App, callSid: string): Promise<void> {
  await eventually('the stream admitted', async () => {
    const [call] = await app.database.db.select({ id: calls.id }).from(calls).where(eq(calls.callSid, callSid))
    const started = await app.database.db.select().from(callEvents).where(eq(callEvents.callId, call!.id))
    return started.some((e) => e.outcome === 'recording-started')
  }, { timeoutMs: 5000, intervalMs: 10 })
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
  const stream = await openStream(app)
  stream.start(callSid, token)
  await admitted(app, callSid)
  await stream.play(0, seconds * 50)
  if (opts.stop !== false) stream.stop()
  return { callSid, ws: stream.ws, stream, audio: expectedAudio(seconds) }
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
