// Shared by the engine tests: a campaign, a context, and ways to run and inspect steps.
import { readFileSync } from 'node:fs'
import type { CampaignContext, FlowDefinition, FlowNode } from '../../src/flows/definition.js'
import { runStep } from '../../src/flows/engine.js'
import { initialCallState, type Effect, type FlowContext, type FlowInput, type StepResult } from '../../src/flows/step-types.js'

const fixtures = new URL('../fixtures/flows/valid/', import.meta.url)
export const load = (file: string): FlowDefinition =>
  JSON.parse(readFileSync(new URL(file, fixtures), 'utf8')) as FlowDefinition

export const XML = '<?xml version="1.0" encoding="UTF-8"?>'
export const APOLOGY = `${XML}<Response><Say>Sorry, we cannot take your call right now. Please try again later. Goodbye.</Say><Hangup/></Response>`
export const SWITCHBOARD = '+442079460000'
export const london: CampaignContext = {
  timezone: 'Europe/London',
  hours: { mon: [['09:00', '17:00']], tue: [['09:00', '17:00']] },
  holidays: [],
  switchboard: SWITCHBOARD,
}
export const MONDAY_OPEN = new Date('2026-06-01T10:00:00Z') // 11:00 BST
export const MONDAY_CLOSED = new Date('2026-06-01T18:00:00Z') // 19:00 BST

export function ctx (overrides: Partial<FlowContext> = {}): FlowContext {
  return {
    now: MONDAY_OPEN,
    campaign: london,
    flowUrl: (node) => `https://cg.example/twilio/flow?node=${encodeURIComponent(node)}`,
    streamUrl: 'wss://cg.example/twilio/media',
    streamToken: 'token-1',
    ...overrides,
  }
}

export function gather (node: string, ...says: string[]): string {
  return (
    `<Gather input="dtmf" numDigits="1" timeout="5" action="https://cg.example/twilio/flow?node=${node}" ` +
    `method="POST" actionOnEmptyResult="true">${says.map((s) => `<Say>${s}</Say>`).join('')}</Gather>`
  )
}

export const resume = (node: string, digits?: string): FlowInput => ({ kind: 'resume', node, digits })
export const start: FlowInput = { kind: 'start' }

/** Runs a start and then the given inputs, threading the state. */
export function run (def: FlowDefinition, inputs: FlowInput[] = [], context = ctx()): StepResult[] {
  const results: StepResult[] = []
  let state = initialCallState()
  for (const input of [start, ...inputs]) {
    const result = runStep(def, state, input, context)
    results.push(result)
    state = result.nextState
  }
  return results
}

export const last = <T>(list: T[]): T => list[list.length - 1] as T
export const ofType = <K extends Effect['type']>(effects: Effect[], type: K): Array<Extract<Effect, { type: K }>> =>
  effects.filter((e): e is Extract<Effect, { type: K }> => e.type === type)
export const logs = (effects: Effect[]): Array<[string, string]> => ofType(effects, 'logEvent').map((e) => [e.node, e.outcome])

export function flow (nodes: Record<string, FlowNode>, startAt = Object.keys(nodes)[0] as string): FlowDefinition {
  return { start: startAt, nodes }
}

export const consentNode = {
  type: 'consent',
  prompt: 'Press 1 to allow recording.',
  grantDigit: '1',
  denyDigit: '2',
  granted: 'rec',
  denied: 'bye',
  noInput: 'bye',
} as const
