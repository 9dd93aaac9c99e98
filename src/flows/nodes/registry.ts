// One entry per node type: adding a type means one file in this folder and one line here.
import type { FlowNode } from '../definition.js'
import type { NodeHandler, NodeHandlers } from '../node-handler.js'
import { consentHandler } from './consent.js'
import { dialHandler } from './dial.js'
import { hangupHandler } from './hangup.js'
import { hoursHandler } from './hours.js'
import { menuHandler } from './menu.js'
import { optoutHandler } from './optout.js'
import { playHandler } from './play.js'
import { recordHandler } from './record.js'
import { sayHandler } from './say.js'
import { stopRecordingHandler } from './stop-recording.js'

export const nodeHandlers: NodeHandlers = {
  say: sayHandler,
  play: playHandler,
  menu: menuHandler,
  consent: consentHandler,
  record: recordHandler,
  stopRecording: stopRecordingHandler,
  dial: dialHandler,
  hours: hoursHandler,
  optout: optoutHandler,
  hangup: hangupHandler,
}

/** The handler for a node; the mapped table guarantees it matches the node's type. */
export function handlerFor (node: FlowNode): NodeHandler<FlowNode> {
  return nodeHandlers[node.type] as NodeHandler<FlowNode>
}
