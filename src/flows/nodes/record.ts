// Starts the media stream that becomes the recording. The validator proves every path here
// passed a consent grant; this checks the call's actual state again, so a flow that slipped
// past validation (or a stale state) still never records without consent.
import type { NodeOf } from '../definition.js'
import { goOn, type PassHandler } from '../node-handler.js'
import { startStream } from '../twiml.js'
import { nextEdge } from './next-edge.js'

export const recordHandler: PassHandler<NodeOf<'record'>> = {
  waits: false,
  edges: (node) => nextEdge(node.next),
  run (node, id, turn) {
    if (turn.state.consent !== 'granted') {
      turn.log(id, 'skipped-no-consent')
    } else if (turn.state.recording) {
      turn.log(id, 'already-recording')
    } else {
      startStream(turn.twiml, turn.ctx.streamUrl, turn.ctx.streamToken)
      turn.emit({ type: 'startRecording', node: id, token: turn.ctx.streamToken })
      turn.state.recording = true
      turn.log(id, 'started')
    }
    return goOn(node.next)
  },
}
