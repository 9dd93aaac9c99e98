// Plays Twilio (and an admin) against server processes over real HTTP and WebSocket on
// 127.0.0.1. Every request is signed for the shared PUBLIC_URL, as Twilio signs what it was
// told, whichever process the load balancer then picks.
import { readFileSync } from 'node:fs'
import { WebSocket } from 'ws'
import { twilioSignature } from '../../src/twilio/signature.js'
import { ADMIN_TOKEN, TWILIO_TOKEN } from '../helper.js'

export const PUBLIC_URL = 'https://voice.callgate.test'
export const NUMBER = '+442079460018'
export const SWITCHBOARD = '+442079460000'
const definition = JSON.parse(readFileSync(new URL('../fixtures/flows/valid/design-example.json', import.meta.url), 'utf8'))

export interface Reply { status: number, body: string }

export async function webhook (base: string, path: string, params: Record<string, string>): Promise<Reply> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, PUBLIC_URL + path, params) },
    body: new URLSearchParams(params).toString()
  })
  return { status: res.status, body: await res.text() }
}

export async function api<T = Record<string, unknown>> (base: string, method: string, path: string, body?: unknown, key = ADMIN_TOKEN): Promise<{ status: number, json: T }> {
  const send = async () => await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  // A kept-alive connection the server closed for idleness just as it was reused (a test
  // process stalled by a loaded machine can miss the client's own idle timer) is reset before
  // any answer; a GET is safe to send again on a new one.
  const res = await send().catch(async (err: unknown) => {
    if (method !== 'GET' || (err as { cause?: { code?: string } }).cause?.code !== 'ECONNRESET') throw err
    return await send()
  })
  const text = await res.text()
  return { status: res.status, json: (text === '' ? null : JSON.parse(text)) as T }
}

async function ok<T> (p: Promise<{ status: number, json: T }>): Promise<T> {
  const r = await p
  if (r.status >= 300) throw new Error(`API answered ${r.status}: ${JSON.stringify(r.json)}`)
  return r.json
}

/** A tenant with a consent-first flow published on NUMBER, and a controller's key. */
export async function provision (base: string, retention = { recordingsDays: 90, callLogDays: 365, redactAfterDays: 30 }) {
  const tenantId = (await ok(api<{ id: string }>(base, 'POST', '/api/tenants', { name: 'Acme' }))).id
  const campaignId = (await ok(api<{ id: string }>(base, 'POST', '/api/campaigns', {
    tenantId,
    name: 'Reception',
    timezone: 'UTC',
    hours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]])),
    switchboard: SWITCHBOARD,
    retention,
    lawfulBasis: 'consent'
  }))).id
  const flowId = (await ok(api<{ id: string }>(base, 'POST', '/api/flows', { name: 'Reception', campaignId }))).id
  await ok(api(base, 'POST', `/api/flows/${flowId}/versions`, { definition }))
  await ok(api(base, 'POST', `/api/flows/${flowId}/versions/1/publish`))
  await ok(api(base, 'POST', '/api/numbers', { number: NUMBER, campaignId, flowId }))
  const controller = (await ok(api<{ apiKey: string }>(base, 'POST', '/api/users', { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' }))).apiKey
  const agent = (await ok(api<{ apiKey: string }>(base, 'POST', '/api/users', { tenantId, role: 'agent', name: 'A', email: 'a@acme.test' }))).apiKey
  return { tenantId, campaignId, flowId, controller, agent }
}

let sid = 0x7000
export const newSid = () => 'CA' + (++sid).toString(16).padStart(32, '0') + ''

export const streamToken = (twiml: string) => /<Parameter name="token" value="([^"]+)"/.exec(twiml)?.[1]

/** Distinct µ-law per track and 20 ms slot, never 0xFF (silence). */
export function payloadFor (track: number, slot: number): Buffer {
  const out = Buffer.alloc(160)
  let x = (track * 7919 + slot * 104729 + 1) >>> 0
  for (let i = 0; i < 160; i++) { x = (x * 1664525 + 1013904223) >>> 0; out[i] = (x >>> 24) % 255 }
  return out
}

/** The two-channel audio (caller left) that streaming `seconds` from payloadFor must store. */
export function expectedAudio (seconds: number): Buffer {
  const audio = Buffer.alloc(seconds * 50 * 320)
  for (let slot = 0; slot < seconds * 50; slot++) {
    const left = payloadFor(0, slot)
    const right = payloadFor(1, slot)
    for (let s = 0; s < 160; s++) { audio[slot * 320 + s * 2] = left[s]!; audio[slot * 320 + s * 2 + 1] = right[s]! }
  }
  return audio
}

/**
 * A Twilio Media Stream to `base`: start with the token, `seconds` of both tracks in real time
 * (20 ms frames), stop. Resolves once the socket closed, with how many 20 ms slots were sent
 * before it did (fewer than asked when the server went away), and when slot 0 was due: slot k
 * is never sent before `startedAt + 20 k` ms.
 */
export async function stream (base: string, callSid: string, token: string, seconds: number): Promise<{ slots: number, cut: boolean, startedAt: number }> {
  const url = `${base.replace(/^http/, 'ws')}/twilio/media`
  const ws = new WebSocket(url, { headers: { 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, `${PUBLIC_URL.replace(/^http/, 'ws')}/twilio/media`, {}) } })
  ws.on('error', () => {})
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
  const opened = await Promise.race([new Promise<boolean>((resolve) => ws.once('open', () => resolve(true))), closed.then(() => false)])
  if (!opened) return { slots: 0, cut: true, startedAt: Date.now() }
  const streamSid = 'MZ' + callSid.slice(2)
  let seq = 0
  const send = (message: unknown) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message)) }
  send({ event: 'start', sequenceNumber: String(++seq), streamSid, start: { streamSid, accountSid: 'AC' + '0'.repeat(32), callSid, tracks: ['inbound', 'outbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 }, customParameters: { token } } })
  // Twilio's audio starts after the stream is set up; the server needs a moment to admit it.
  await new Promise((resolve) => setTimeout(resolve, 300))
  const started = Date.now()
  let slot = 0
  while (slot < seconds * 50 && ws.readyState === WebSocket.OPEN) {
    const due = Math.min(seconds * 50, Math.floor((Date.now() - started) / 20) + 1)
    for (; slot < due && ws.readyState === WebSocket.OPEN; slot++) {
      for (const [t, track] of (['inbound', 'outbound'] as const).entries()) {
        send({ event: 'media', sequenceNumber: String(++seq), streamSid, media: { track, chunk: String(slot + 1), timestamp: String(slot * 20), payload: payloadFor(t, slot).toString('base64') } })
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const cut = ws.readyState !== WebSocket.OPEN
  send({ event: 'stop', sequenceNumber: String(++seq), streamSid, stop: { accountSid: 'AC' + '0'.repeat(32), callSid } })
  setTimeout(() => ws.close(), 200).unref()
  await closed
  return { slots: slot, cut, startedAt: started }
}

/** Polls `fn` until it returns a value that is not undefined, or fails after `ms`. */
export async function eventually<T> (what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const value = await fn()
    if (value !== undefined) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
