// Runs one webhook's worth of a call flow: resume the node that was waiting (or begin at the
// start), then walk the nodes that do not wait until one waits for Twilio or the call ends.
//
// The result's effects are data for the route, in the order they happened. The route persists
// `recordConsent` and `suppress` before it replies; if one of them cannot be stored it drops
// the result and re-runs the same step with ctx.consentWritable / ctx.optoutWritable set to
// false (the engine is deterministic, so the re-run differs only there): consent then goes on
// unrecorded, and the optout node tells the caller the opt-out could not be recorded.
//
// Nothing here throws: a bad resume, a missing node, a runaway walk or an internal error all
// end the call with a short apology and <Hangup/>.
import { assertNever } from './assert-never.js'
import type { FlowDefinition } from './definition.js'
import { nodeById, Turn, type Transition } from './node-handler.js'
import { handlerFor } from './nodes/registry.js'
import { initialCallState, type CallState, type FlowContext, type FlowInput, type StepResult } from './step-types.js'
import { apologyTwiml } from './twiml.js'

/** Nodes one request may enter; a validated flow cannot loop without waiting, so this only
 *  stops a flow that bypassed validation. */
export const MAX_STEPS_PER_REQUEST = 100

export function runStep (def: FlowDefinition, state: CallState, input: FlowInput, ctx: FlowContext): StepResult {
  let turn: Turn | undefined
  try {
    turn = new Turn(ctx, state)
    return walk(def, turn, input)
  } catch {
    const { node, digits } = describeInput(input, def)
    return endSafely(turn, node, 'error-engine', digits)
  }
}

function walk (def: FlowDefinition, turn: Turn, input: FlowInput): StepResult {
  if (turn.state.ended) {
    const { node, digits } = describeInput(input, def)
    return endSafely(turn, node, 'refused-call-ended', digits)
  }
  let transition: Transition
  let current: string
  switch (input.kind) {
    case 'start':
      if (turn.state.node !== null || turn.state.steps !== 0) {
        return endSafely(turn, def.start, 'refused-already-started')
      }
      if (input.machine === true) {
        // A machine cannot choose anything: it hears the flow's message for machines, or nothing.
        if (def.machine === undefined) {
          turn.log(def.start, 'machine-hangup')
          transition = { kind: 'end' }
          current = def.start
          break
        }
        turn.log(def.machine, 'machine-answered')
        current = def.machine
        transition = { kind: 'goto', to: def.machine }
        break
      }
      current = def.start
      transition = { kind: 'goto', to: def.start }
      break
    case 'resume': {
      const node = nodeById(def, input.node)
      const handler = node === undefined ? undefined : handlerFor(node)
      // Only the node the call is waiting at may be resumed; anything else is a stale or
      // forged callback.
      if (node === undefined || handler === undefined || !handler.waits || input.node !== turn.state.node) {
        return endSafely(turn, String(input.node), 'refused-unexpected-resume', input.digits)
      }
      turn.state.steps += 1
      current = input.node
      const digits = typeof input.digits === 'string' ? input.digits : ''
      transition = handler.resume(node, current, { digits, dialStatus: input.dialStatus }, turn)
      break
    }
    default:
      return assertNever(input)
  }
  for (let entered = 0; transition.kind === 'goto'; entered += 1) {
    if (entered === MAX_STEPS_PER_REQUEST) return endSafely(turn, transition.to, 'refused-too-many-steps')
    const node = nodeById(def, transition.to)
    if (node === undefined) return endSafely(turn, transition.to, 'refused-missing-node')
    current = transition.to
    turn.state.steps += 1
    const handler = handlerFor(node)
    transition = handler.waits ? handler.enter(node, current, turn) : handler.run(node, current, turn)
  }
  switch (transition.kind) {
    case 'wait':
      turn.state.node = current
      break
    case 'end':
      turn.twiml.hangup()
      turn.emit({ type: 'hangup', node: current })
      Object.assign(turn.state, { node: null, recording: false, ended: true })
      break
    default:
      return assertNever(transition)
  }
  return { twiml: turn.twiml.toString(), nextState: turn.state, effects: turn.effects }
}

/** For the log of a refused or failed step; the input itself may be what is broken. */
function describeInput (input: FlowInput, def: FlowDefinition): { node: string; digits?: string } {
  try {
    return input.kind === 'resume' ? { node: String(input.node), digits: input.digits } : { node: String(def.start) }
  } catch {
    return { node: '(unknown)' }
  }
}

/**
 * Apology and hang-up. Effects already produced stay (a consent decision or an opt-out the
 * caller made is still a fact), except those whose TwiML is discarded: no stream starts and no
 * number is dialled.
 */
function endSafely (turn: Turn | undefined, node: string, outcome: string, input?: string): StepResult {
  const kept = (turn?.effects ?? []).filter((e) => e.type !== 'startRecording' && e.type !== 'dial')
  const log = typeof input === 'string' && input !== '' ? { input } : {}
  const base = turn?.state ?? initialCallState()
  return {
    twiml: apologyTwiml(),
    nextState: { ...base, node: null, recording: false, ended: true },
    effects: [...kept, { type: 'logEvent', node, outcome, ...log }, { type: 'hangup', node }],
  }
}
