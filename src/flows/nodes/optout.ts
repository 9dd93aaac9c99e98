// The caller asks not to be called again. The route stores the suppression BEFORE it answers;
// if that fails it re-runs the same step with ctx.optoutWritable = false, which takes this
// node's failure branch, so the caller is never told an opt-out was kept when it was not.
import type { NodeOf } from '../definition.js'
import { goOn, type PassHandler } from '../node-handler.js'
import { say } from '../twiml.js'
import { nextEdge } from './next-edge.js'

export const DEFAULT_OPTOUT_FAILED =
  'Sorry, we could not record your request not to be called again. Please call back later or contact us to opt out.'

export const optoutHandler: PassHandler<NodeOf<'optout'>> = {
  waits: false,
  edges: (node) => nextEdge(node.next),
  run (node, id, turn) {
    if (turn.ctx.optoutWritable === false) {
      say(turn.twiml, node.failSay ?? DEFAULT_OPTOUT_FAILED)
      turn.log(id, 'optout-not-stored')
    } else {
      turn.emit({ type: 'suppress', node: id, source: 'ivr' })
      say(turn.twiml, node.say)
      turn.log(id, 'suppressed')
    }
    return goOn(node.next)
  },
}
