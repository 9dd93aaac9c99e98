import type { NodeOf } from '../definition.js'
import { goOn, type PassHandler } from '../node-handler.js'
import { say } from '../twiml.js'
import { nextEdge } from './next-edge.js'

export const sayHandler: PassHandler<NodeOf<'say'>> = {
  waits: false,
  edges: (node) => nextEdge(node.next),
  run (node, id, turn) {
    say(turn.twiml, node.text, node.voice, node.language)
    turn.log(id, 'said')
    return goOn(node.next)
  },
}
