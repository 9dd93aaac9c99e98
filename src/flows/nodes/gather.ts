// Asking for one key press, shared by menu and consent: prompt, re-prompt, give up.
import type { Transition, Turn } from '../node-handler.js'
import { DEFAULT_GATHER_TIMEOUT, gatherDigit } from '../twiml.js'

/** Re-prompts after the first one when a node does not say. */
export const DEFAULT_RETRIES = 2

interface Asking {
  prompt: string;
  timeoutSeconds?: number;
  retries?: number;
}

export function ask (node: Asking, id: string, turn: Turn, preface?: string): Transition {
  const prompts = preface === undefined ? [node.prompt] : [preface, node.prompt]
  gatherDigit(turn.twiml, turn.ctx.flowUrl(id), node.timeoutSeconds ?? DEFAULT_GATHER_TIMEOUT, prompts)
  return { kind: 'wait' }
}

/** Entering the node afresh (not a re-prompt) gives the caller the full number of tries. */
export function askFirst (node: Asking, id: string, turn: Turn): Transition {
  delete turn.state.retries[id]
  turn.log(id, 'prompted')
  return ask(node, id, turn)
}

/**
 * After silence or a key with no meaning here: ask again while re-prompts remain, else null
 * (without logging: the caller logs the outcome it then takes) for the no-input path.
 */
export function askAgain (node: Asking, id: string, turn: Turn, digits: string, preface?: string): Transition | null {
  const used = turn.retriesUsed(id)
  const invalid = digits !== ''
  if (used >= (node.retries ?? DEFAULT_RETRIES)) {
    delete turn.state.retries[id]
    return null
  }
  turn.setRetries(id, used + 1)
  turn.log(id, invalid ? 'invalid-retry' : 'no-input-retry', invalid ? digits : undefined)
  return ask(node, id, turn, invalid ? preface : undefined)
}
