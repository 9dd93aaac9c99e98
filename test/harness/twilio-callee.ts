// Twilio's side of the calls the dialler places, behind the REST stand-in (test/fake-twilio-api.ts):
// each call created through Calls.json goes on as Twilio would take it, per a script for its
// number: status callbacks (initiated, ringing, in-progress, then the final one), and when
// someone answers, the signed /twilio/voice (Direction outbound-api, AnsweredBy) and the action
// URLs of each answer, with the script's digits.
import { nextPath, twilioCaller, type TwilioTransport } from './twilio-caller.js'

export interface CalleeScript {
  /** The call's final status. Only a completed call is answered. */
  status: 'completed' | 'busy' | 'no-answer' | 'failed'
  /** What machine detection says: human, machine_start, fax… (absent: detection was off). */
  answeredBy?: string
  /** Keys pressed at each <Gather> in turn; when they run out the callee hangs up. */
  digits?: string[]
  /** false: the voice webhook never reached the server (Twilio's fallback answered the callee). */
  voice?: false
  /** The call stays up until this settles (to hold calls in flight). */
  hold?: Promise<unknown>
}

/** The script for the `attempt`th call (1, 2…) to `to`. */
export type Scripts = (to: string, attempt: number) => CalleeScript

export interface PlacedCall { sid: string, to: string, from: string, form: URLSearchParams, script: CalleeScript, replies: string[] }

export const ACCOUNT_SID = 'AC' + 'd1a1'.repeat(8)

export function twilioCallees (transports: TwilioTransport[], scripts: Scripts) {
  const running = new Set<Promise<void>>()
  const attempts = new Map<string, number>()
  const calls: PlacedCall[] = []
  const failures: unknown[] = []
  let live = 0
  let maxLive = 0
  let turn = 0

  async function run (call: PlacedCall) {
    // Twilio's requests reach whichever server process the load balancer picks.
    const transport = transports[turn++ % transports.length]!
    const { script } = call
    const params: Record<string, string> = { AccountSid: ACCOUNT_SID, Direction: 'outbound-api' }
    if (script.answeredBy !== undefined) params.AnsweredBy = script.answeredBy
    const callee = twilioCaller(transport, { callSid: call.sid, from: call.from, to: call.to, params })
    const status = async (CallStatus: string, extra: Record<string, string> = {}) => {
      const reply = await callee.post('/twilio/status', { CallStatus, ...extra })
      if (reply.status !== 200) throw new Error(`status ${CallStatus} of ${call.sid} answered ${reply.status}: ${reply.body}`)
    }
    let ended = false
    live++
    maxLive = Math.max(maxLive, live)
    try {
      await status('initiated')
      await status('ringing')
      if (script.status === 'completed' && script.voice !== false) {
        await status('in-progress')
        let reply = await callee.start()
        const digits = [...(script.digits ?? [])]
        for (let step = 0; step < 50; step++) {
          if (reply.status !== 200) throw new Error(`${call.sid}: webhook answered ${reply.status}`)
          call.replies.push(reply.body)
          const body = reply.body
          if (body.includes('<Gather')) {
            const next = digits.shift()
            if (next === undefined) break
            reply = await callee.press(next, body)
          } else if (body.includes('<Dial')) {
            reply = await callee.dialed('completed', body)
          } else if (body.includes('<Redirect')) {
            reply = await callee.post(nextPath(body, 'Redirect', transport.publicUrl))
          } else {
            break
          }
        }
        await script.hold
      }
      // The call is over at Twilio before it reports so: no longer up while its callback is handled.
      ended = true
      live--
      await status(script.status, { CallDuration: script.status === 'completed' ? '30' : '0', ...(script.answeredBy !== undefined ? { AnsweredBy: script.answeredBy } : {}) })
    } finally {
      if (!ended) live--
    }
  }

  return {
    calls,
    failures,
    /** The most calls up at once (since the last `resetMaxLive`). */
    get maxLive () { return maxLive },
    resetMaxLive () { maxLive = live },
    /** For the stand-in's `placed`. */
    placed ({ sid, form }: { sid: string, form: URLSearchParams }) {
      const to = form.get('To')!
      const attempt = (attempts.get(to) ?? 0) + 1
      attempts.set(to, attempt)
      const call: PlacedCall = { sid, to, from: form.get('From')!, form, script: scripts(to, attempt), replies: [] }
      calls.push(call)
      const done: Promise<void> = run(call).catch((err: unknown) => { failures.push(err) }).finally(() => running.delete(done))
      running.add(done)
    },
    /** Resolves when every call placed so far (and any placed meanwhile) has ended. */
    async settled () {
      while (running.size > 0) await Promise.all([...running])
    },
    /** How many calls were placed to `to`. */
    dialled: (to: string) => calls.filter((c) => c.to === to).length
  }
}
