// Connects the caller to a number. Twilio posts to the <Dial action> once the dialled leg ends,
// with DialCallStatus (https://www.twilio.com/docs/voice/twiml/dial#action); the flow then goes
// on at `next` or hangs up. The media stream, if any, keeps running: dialling neither starts
// nor stops a recording.
import { E164_PATTERN, type NodeOf } from '../definition.js'
import { goOn, type WaitHandler } from '../node-handler.js'
import { DEFAULT_DIAL_TIMEOUT, say } from '../twiml.js'

const CANNOT_CONNECT = 'Sorry, we cannot connect your call right now.'

export const dialHandler: WaitHandler<NodeOf<'dial'>> = {
  waits: true,
  // The dialled party's conversation is a wait, and `next` is also taken when nobody answers.
  edges: (node) => (node.next === undefined ? [] : [{ field: ['next'], target: node.next, waits: true, silent: true }]),
  check (node) {
    if (node.to === 'switchboard' || E164_PATTERN.test(node.to)) return []
    return [{ field: ['to'], message: `"${node.to}" is not an E.164 number (like +442071234567) or "switchboard"` }]
  },
  enter (node, id, turn) {
    const to = node.to === 'switchboard' ? turn.ctx.campaign.switchboard : node.to
    // A campaign may lose its switchboard after the flow was published.
    if (to === null || !E164_PATTERN.test(to)) {
      say(turn.twiml, CANNOT_CONNECT)
      turn.log(id, 'no-number')
      return goOn(node.next)
    }
    if (node.say !== undefined) say(turn.twiml, node.say)
    turn.twiml.dial(
      { action: turn.ctx.flowUrl(id), method: 'POST', timeout: node.timeoutSeconds ?? DEFAULT_DIAL_TIMEOUT },
      to
    )
    turn.emit({ type: 'dial', node: id, to })
    turn.log(id, 'dialled')
    return { kind: 'wait' }
  },
  resume (node, id, { dialStatus }, turn) {
    turn.log(id, `dial-${dialStatus ?? 'unknown'}`)
    return goOn(node.next)
  },
}
