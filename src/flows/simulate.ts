// Runs a flow end to end on scripted caller input, as Twilio would drive it, and returns what
// each webhook answered. Pure: the CLI in scripts/simulate.ts does the file reading.
import { E164_PATTERN, type CampaignContext, type FlowDefinition } from './definition.js'
import { runStep } from './engine.js'
import { nodeById } from './node-handler.js'
import { initialCallState, type CallState, type Effect, type FlowInput } from './step-types.js'

export interface SimulationOptions {
  campaign: CampaignContext;
  now: Date;
  /** One entry per menu or consent prompt, in order; '' is silence. The run stops when they run out. */
  digits: string[];
  /** One DialCallStatus per dial, in order; "completed" when they run out. */
  dialStatuses?: string[];
  /** Origin for the callback and stream URLs. */
  baseUrl?: string;
  /** Webhooks at most (default 50), in case the script keeps a menu going. */
  maxRequests?: number;
  consentWritable?: boolean;
  optoutWritable?: boolean;
}

export interface SimulatedRequest {
  input: FlowInput;
  /** The node the call waits at after this request, null once it ended. */
  waitingAt: string | null;
  twiml: string;
  effects: Effect[];
  state: CallState;
}

export function simulate (def: FlowDefinition, options: SimulationOptions): SimulatedRequest[] {
  const base = options.baseUrl ?? 'https://callgate.example'
  const digits = [...options.digits]
  const dialStatuses = [...(options.dialStatuses ?? [])]
  const maxRequests = options.maxRequests ?? 50
  const transcript: SimulatedRequest[] = []
  let state = initialCallState()
  let input: FlowInput | undefined = { kind: 'start' }
  while (input !== undefined && transcript.length < maxRequests) {
    const result = runStep(def, state, input, {
      now: options.now,
      campaign: options.campaign,
      flowUrl: (node) => `${base}/twilio/flow?node=${encodeURIComponent(node)}`,
      streamUrl: base.replace(/^http/, 'ws') + '/twilio/media',
      streamToken: `simulated-token-${transcript.length + 1}`,
      consentWritable: options.consentWritable,
      optoutWritable: options.optoutWritable,
    })
    state = result.nextState
    transcript.push({ input, waitingAt: state.node, twiml: result.twiml, effects: result.effects, state })
    input = nextInput(def, state, digits, dialStatuses)
  }
  return transcript
}

function nextInput (def: FlowDefinition, state: CallState, digits: string[], dialStatuses: string[]): FlowInput | undefined {
  if (state.ended || state.node === null) return undefined
  const waiting = nodeById(def, state.node)
  if (waiting?.type === 'dial') {
    return { kind: 'resume', node: state.node, dialStatus: dialStatuses.shift() ?? 'completed' }
  }
  const pressed = digits.shift()
  return pressed === undefined ? undefined : { kind: 'resume', node: state.node, digits: pressed }
}

/** A readable transcript: one block per webhook with its input, TwiML and effects. */
export function formatTranscript (transcript: SimulatedRequest[]): string {
  return transcript
    .map((request, index) => {
      const { input } = request
      const heading =
        input.kind === 'start'
          ? 'call starts'
          : `resume ${input.node}` +
            (input.dialStatus === undefined ? ` digits "${input.digits ?? ''}"` : ` dial status ${input.dialStatus}`)
      const after = request.state.ended ? 'call ended' : `waiting at ${request.waitingAt}`
      const effects = request.effects.map((effect) => `    ${describeEffect(effect)}`)
      return [`#${index + 1} ${heading} → ${after}`, `  twiml: ${request.twiml}`, '  effects:', ...effects].join('\n')
    })
    .join('\n\n')
}

function describeEffect (effect: Effect): string {
  const { type, ...rest } = effect
  return `${type} ${JSON.stringify(rest)}`
}

/** A campaign that is always open and has no switchboard, for trying a flow quickly. */
export function alwaysOpenCampaign (switchboard: string | null = null): CampaignContext {
  const allDay: [string, string][] = [['00:00', '24:00']]
  return {
    timezone: 'UTC',
    hours: { mon: allDay, tue: allDay, wed: allDay, thu: allDay, fri: allDay, sat: allDay, sun: allDay },
    holidays: [],
    switchboard: switchboard !== null && E164_PATTERN.test(switchboard) ? switchboard : null,
  }
}
