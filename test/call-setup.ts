import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import type { App } from '../src/app.js'
import { admin, bearer, build, fixedClock, signedTwilio } from './helper.js'

export const definition = JSON.parse(readFileSync(new URL('./fixtures/flows/valid/design-example.json', import.meta.url), 'utf8'))
export const NUMBER = '+442079460018'
export const CALLER = '+447700900123'
export const SWITCHBOARD = '+442079460000'
// Tuesday 24 November 2026, 10:00 in London (GMT).
export const IN_HOURS = '2026-11-24T10:00:00Z'

export const campaignBody = {
  name: 'Acme inbound',
  timezone: 'Europe/London',
  hours: { mon: [['09:00', '17:30']], tue: [['09:00', '17:30']], wed: [['09:00', '17:30']], thu: [['09:00', '17:30']], fri: [['09:00', '17:30']], sun: [['09:00', '12:00']] },
  holidays: ['2026-12-25'],
  switchboard: SWITCHBOARD,
  retention: { recordingsDays: 90, callLogDays: 365, redactAfterDays: 30 },
  lawfulBasis: 'consent'
}

let sidCounter = 0
export const newSid = () => 'CA' + (++sidCounter).toString(16).padStart(32, '0')

export interface Setup { app: App, clock: ReturnType<typeof fixedClock>, opsKey: string, tenantId: string, campaignId: string, flowId: string }

/** A tenant with a campaign, the design example flow published, and a number bound to it. */
export async function setup (t: Test): Promise<Setup> {
  const clock = fixedClock(IN_HOURS)
  const app = await build(t, { overrides: { clock } })
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id
  const opsKey = (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'ops', name: 'Olga', email: 'ops@acme.test' } })).json().apiKey
  const ops = bearer(opsKey)
  const campaignId = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: campaignBody })).json().id
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'Reception', campaignId } })).json().id
  const saved = await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition } })
  t.equal(saved.statusCode, 201, 'draft saved')
  t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: ops })).statusCode, 200, 'published')
  t.equal((await app.inject({ method: 'POST', url: '/api/numbers', headers: ops, payload: { number: NUMBER, campaignId, flowId } })).statusCode, 201, 'number bound')
  return { app, clock, opsKey, tenantId, campaignId, flowId }
}

/** A caller's side of a call: each webhook Twilio would send, signed. */
export function caller (app: App, opts: { from?: string, to?: string } = {}) {
  const callSid = newSid()
  const base = { CallSid: callSid, AccountSid: 'AC' + '0'.repeat(32), From: opts.from ?? CALLER, To: opts.to ?? NUMBER, Direction: 'inbound' }
  const responses: string[] = []
  const send = async (path: string, params: Record<string, string>) => {
    const res = await app.inject(signedTwilio(path, { ...base, ...params }))
    t.equal(res.statusCode, 200, `${path} answered`)
    responses.push(res.body)
    return res.body
  }
  return {
    callSid,
    responses,
    start: () => send('/twilio/voice', {}),
    press: (node: string, digits: string) => send(`/twilio/flow?node=${node}`, { Digits: digits }),
    dialed: (node: string, status: string) => send(`/twilio/flow?node=${node}`, { DialCallStatus: status }),
    status: (status: string, duration = '42') => send('/twilio/status', { CallStatus: status, CallDuration: duration })
  }
}
