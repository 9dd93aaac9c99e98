import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import type { App } from '../src/app.js'
import { injectTransport, NUMBER, nextPath, SWITCHBOARD, twilioCaller, type Reply } from './harness/twilio-caller.js'
import { admin, bearer, build, fixedClock } from './helper.js'

export const definition = JSON.parse(readFileSync(new URL('./fixtures/flows/valid/design-example.json', import.meta.url), 'utf8'))
export { CALLER, NUMBER, newSid, SWITCHBOARD } from './harness/twilio-caller.js'
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

export interface Setup { app: App, clock: ReturnType<typeof fixedClock>, opsKey: string, tenantId: string, campaignId: string, flowId: string }

/** A tenant with a campaign, the design example flow published, and a number bound to it. */
export async function setup (t: Test, opts: { env?: Record<string, string> } = {}): Promise<Setup> {
  const clock = fixedClock(IN_HOURS)
  const app = await build(t, { overrides: { clock }, ...(opts.env !== undefined ? { env: opts.env } : {}) })
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

/**
 * A caller's side of a call through the harness caller (test/harness/twilio-caller.ts): each
 * webhook Twilio would send, signed, to the URL the last answer named; each answered 200 (a tap
 * assertion), the body returned. `post` sends any webhook of the call as given, for the
 * deliberately odd ones (a step the call is not at, a call never started).
 */
export function caller (app: App, opts: { from?: string, to?: string } = {}) {
  const call = twilioCaller(injectTransport(app), { ...opts, params: { AccountSid: 'AC' + '0'.repeat(32), Direction: 'inbound' } })
  const answered = (path: string, reply: Reply) => {
    t.equal(reply.status, 200, `${path} answered`)
    return reply.body
  }
  const post = async (path: string, params: Record<string, string> = {}) => answered(path, await call.post(path, params))
  /** The action URL of the last answer's `verb`, which must continue the call at `node`. */
  const actionAt = (verb: 'Gather' | 'Dial', node: string) => {
    const path = nextPath(call.replies.at(-1)?.body ?? '', verb)
    const at = new URLSearchParams(path.split('?')[1]).get('node')
    if (at !== node) throw new Error(`the last answer's <${verb}> continues at ${String(at)}, not ${node} (post() sends an odd step)`)
    return path
  }
  return {
    callSid: call.callSid,
    /** Every answer's body, in order. */
    get responses () { return call.replies.map((reply) => reply.body) },
    post,
    start: async () => answered('/twilio/voice', await call.start()),
    press: async (node: string, digits: string) => await post(actionAt('Gather', node), { Digits: digits }),
    dialed: async (node: string, status: string) => await post(actionAt('Dial', node), { DialCallStatus: status }),
    status: async (status: string, duration = '42') => answered('/twilio/status', await call.status(status, duration))
  }
}
