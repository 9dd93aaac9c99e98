import { DTMF_KEY, type NodeOf } from '../definition.js'
import type { WaitHandler } from '../node-handler.js'
import { askAgain, askFirst } from './gather.js'

/** Plays the prompt and takes the caller to the option of the key pressed. */
export const menuHandler: WaitHandler<NodeOf<'menu'>> = {
  waits: true,
  edges: (node) => [
    ...Object.entries(node.options).map(([digit, target]) => ({
      field: ['options', digit],
      target,
      waits: true,
      silent: false,
    })),
    { field: ['noInput'], target: node.noInput, waits: true, silent: true },
  ],
  check (node) {
    const keys = Object.keys(node.options)
    if (keys.length === 0) return [{ field: ['options'], message: 'a menu needs at least one option' }]
    return keys
      .filter((key) => !DTMF_KEY.test(key))
      .map((key) => ({
        field: ['options', key],
        message: `menu option key "${key}" is not a single key: use one of 0-9, * or #`,
      }))
  },
  enter: (node, id, turn) => askFirst(node, id, turn),
  resume (node, id, { digits }, turn) {
    const target = digits !== '' && Object.hasOwn(node.options, digits) ? node.options[digits] : undefined
    if (target !== undefined) {
      delete turn.state.retries[id]
      turn.log(id, 'option', digits)
      return { kind: 'goto', to: target }
    }
    const again = askAgain(node, id, turn, digits, node.invalidPrompt)
    if (again !== null) return again
    turn.log(id, digits === '' ? 'no-input' : 'invalid-exhausted', digits === '' ? undefined : digits)
    return { kind: 'goto', to: node.noInput }
  },
}
