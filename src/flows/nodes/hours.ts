import type { NodeOf } from '../definition.js'
import { isOpen } from '../hours.js'
import type { PassHandler } from '../node-handler.js'

export const hoursHandler: PassHandler<NodeOf<'hours'>> = {
  waits: false,
  edges: (node) => [
    { field: ['open'], target: node.open, waits: false, silent: true },
    { field: ['closed'], target: node.closed, waits: false, silent: true },
  ],
  run (node, id, turn) {
    let open: boolean
    try {
      open = isOpen(turn.ctx.campaign, turn.ctx.now)
    } catch {
      // An unknown timezone is refused when the campaign is saved; if one slips through,
      // the closed path (usually the switchboard or a message) is the safer guess.
      turn.log(id, 'closed-invalid-campaign-hours')
      return { kind: 'goto', to: node.closed }
    }
    turn.log(id, open ? 'open' : 'closed')
    return { kind: 'goto', to: open ? node.open : node.closed }
  },
}
