// Asks for recording consent and records the decision as evidence. Only a press of grantDigit
// sets consent to granted; the record node checks that again before it starts a stream.
import { DTMF_KEY, type NodeOf } from '../definition.js'
import type { Transition, Turn, WaitHandler } from '../node-handler.js'
import { stopStream } from '../twiml.js'
import { askAgain, askFirst } from './gather.js'

type ConsentNode = NodeOf<'consent'>

/** Anything but a grant withdraws consent, and stops a stream a previous grant started. */
function withhold (id: string, turn: Turn): void {
  turn.state.consent = 'denied'
  if (turn.state.recording) {
    stopStream(turn.twiml)
    turn.emit({ type: 'stopRecording', node: id })
    turn.state.recording = false
  }
}

function decide (node: ConsentNode, id: string, turn: Turn, decision: 'granted' | 'denied' | 'noInput', digits: string): Transition {
  const granted = decision === 'granted'
  if (granted) turn.state.consent = 'granted'
  else withhold(id, turn)
  turn.emit({ type: 'recordConsent', node: id, granted, decision, digits: digits === '' ? null : digits, prompt: node.prompt })
  turn.log(id, decision, digits === '' ? undefined : digits)
  return { kind: 'goto', to: granted ? node.granted : decision === 'denied' ? node.denied : node.noInput }
}

export const consentHandler: WaitHandler<ConsentNode> = {
  waits: true,
  edges: (node) => [
    { field: ['granted'], target: node.granted, waits: true, silent: false, consent: true },
    { field: ['denied'], target: node.denied, waits: true, silent: false, consent: false },
    { field: ['noInput'], target: node.noInput, waits: true, silent: true, consent: false },
  ],
  check (node) {
    const problems = (['grantDigit', 'denyDigit'] as const)
      .filter((field) => !DTMF_KEY.test(node[field]))
      .map((field) => ({ field: [field], message: `${field} must be a single key: one of 0-9, * or #` }))
    if (problems.length === 0 && node.grantDigit === node.denyDigit) {
      problems.push({ field: ['denyDigit'], message: 'denyDigit is the same key as grantDigit: the two must differ' })
    }
    return problems
  },
  enter (node, id, turn) {
    // Without somewhere to keep the evidence there is no point asking: go on unrecorded.
    if (turn.ctx.consentWritable === false) {
      withhold(id, turn)
      turn.log(id, 'skipped-consent-not-writable')
      return { kind: 'goto', to: node.denied }
    }
    return askFirst(node, id, turn)
  },
  resume (node, id, { digits }, turn) {
    if (turn.ctx.consentWritable === false) {
      withhold(id, turn)
      turn.log(id, 'consent-not-writable', digits === '' ? undefined : digits)
      return { kind: 'goto', to: node.denied }
    }
    if (digits === node.grantDigit) return decide(node, id, turn, 'granted', digits)
    if (digits === node.denyDigit) return decide(node, id, turn, 'denied', digits)
    return askAgain(node, id, turn, digits) ?? decide(node, id, turn, 'noInput', digits)
  },
}
