import type { NodeOf } from '../definition.js'
import { goOn, type PassHandler } from '../node-handler.js'
import { nextEdge } from './next-edge.js'

export const playHandler: PassHandler<NodeOf<'play'>> = {
  waits: false,
  edges: (node) => nextEdge(node.next),
  run (node, id, turn) {
    turn.twiml.play(node.url)
    turn.log(id, 'played')
    return goOn(node.next)
  },
}
