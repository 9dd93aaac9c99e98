import type { NodeOf } from '../definition.js'
import { goOn, type PassHandler } from '../node-handler.js'
import { stopStream } from '../twiml.js'
import { nextEdge } from './next-edge.js'

export const stopRecordingHandler: PassHandler<NodeOf<'stopRecording'>> = {
  waits: false,
  edges: (node) => nextEdge(node.next),
  run (node, id, turn) {
    if (turn.state.recording) {
      stopStream(turn.twiml)
      turn.emit({ type: 'stopRecording', node: id })
      turn.state.recording = false
      turn.log(id, 'stopped')
    } else {
      turn.log(id, 'not-recording')
    }
    return goOn(node.next)
  },
}
