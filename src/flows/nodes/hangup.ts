import type { NodeOf } from '../definition.js'
import type { PassHandler } from '../node-handler.js'
import { say } from '../twiml.js'

/** Ends the call; the engine appends <Hangup/> to every ended step. */
export const hangupHandler: PassHandler<NodeOf<'hangup'>> = {
  waits: false,
  edges: () => [],
  run (node, id, turn) {
    if (node.say !== undefined) say(turn.twiml, node.say)
    turn.log(id, 'hangup')
    return { kind: 'end' }
  },
}
