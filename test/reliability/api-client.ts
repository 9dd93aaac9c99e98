// The API's users (an admin, a controller, an agent) against server processes over real HTTP on
// 127.0.0.1; Twilio's side is test/harness/.
import { readFileSync } from 'node:fs'
import { SWITCHBOARD, NUMBER } from '../harness/twilio-caller.js'
import { ADMIN_TOKEN } from '../helper.js'

const definition = JSON.parse(readFileSync(new URL('../fixtures/flows/valid/design-example.json', import.meta.url), 'utf8'))

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
