// The contract every node type implements: how it behaves in a call and which edges it has, so
// that the engine and the validator read the same description of the graph.
import type { FlowDefinition, FlowNode, NodeOf, NodeType } from './definition.js'
import type { CallState, Effect, FlowContext } from './step-types.js'
import { VoiceResponse } from './twiml.js'

/** An edge out of a node, as the validator's graph analyses see it. */
export interface Edge {
  /** JSON-pointer segments below the node, e.g. ["options", "1"]. */
  field: string[];
  target: string;
  /** Taken only after the call waited (for the caller's key press, silence or the dialled party). */
  waits: boolean;
  /** Can be taken when the caller presses nothing at all. */
  silent: boolean;
  /** true: the edge proves consent was granted; false: it proves it was not; absent: unchanged. */
  consent?: boolean;
}

export type Transition = { kind: 'goto'; to: string } | { kind: 'wait' } | { kind: 'end' }

export function goOn (next: string | undefined): Transition {
  return next === undefined ? { kind: 'end' } : { kind: 'goto', to: next }
}

export interface ResumeInput {
  digits: string;
  dialStatus: string | undefined;
}

/** The response being built during one engine step, plus the call state it advances. */
export class Turn {
  readonly twiml = new VoiceResponse()
  readonly effects: Effect[] = []
  readonly state: CallState

  constructor (
    readonly ctx: FlowContext,
    state: CallState
  ) {
    this.state = { ...state, retries: { ...state.retries } }
  }

  emit (effect: Effect): void {
    this.effects.push(effect)
  }

  log (node: string, outcome: string, input?: string): void {
    this.emit(input === undefined ? { type: 'logEvent', node, outcome } : { type: 'logEvent', node, input, outcome })
  }

  retriesUsed (node: string): number {
    const used = Object.hasOwn(this.state.retries, node) ? this.state.retries[node] : 0
    return typeof used === 'number' && Number.isFinite(used) ? used : 0
  }

  setRetries (node: string, used: number): void {
    this.state.retries[node] = used
  }
}

/** A problem inside one node, found by the node type's own rules. */
export interface FieldProblem {
  /** JSON-pointer segments below the node. */
  field: string[];
  message: string;
}

interface HandlerBase<N extends FlowNode> {
  edges(node: N): Edge[];
  /** Rules the schema cannot express (DTMF keys, phone numbers); none when absent. */
  check?(node: N): FieldProblem[];
}

/** Runs and moves on in the same step (say, play, hours, record, stopRecording, optout, hangup). */
export interface PassHandler<N extends FlowNode> extends HandlerBase<N> {
  waits: false;
  run(node: N, id: string, turn: Turn): Transition;
}

/** Ends the step to wait for Twilio to post back (menu, consent, dial). */
export interface WaitHandler<N extends FlowNode> extends HandlerBase<N> {
  waits: true;
  /** Usually emits the prompt and returns wait; may move on when it cannot ask. */
  enter(node: N, id: string, turn: Turn): Transition;
  resume(node: N, id: string, input: ResumeInput, turn: Turn): Transition;
}

export type NodeHandler<N extends FlowNode> = PassHandler<N> | WaitHandler<N>
export type NodeHandlers = { [T in NodeType]: NodeHandler<NodeOf<T>> }

/** The node with this id, without tripping over inherited names such as "constructor". */
export function nodeById (def: FlowDefinition, id: string): FlowNode | undefined {
  return Object.hasOwn(def.nodes, id) ? def.nodes[id] : undefined
}
