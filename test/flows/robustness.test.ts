// The engine never throws and never records without consent. First the guards, case by case;
// then seeded, deterministic fuzzing: 500 generated and mutated definitions. The validator must
// never throw; the engine must never throw, and must never start a stream unless the caller's
// latest consent decision in that run was a grant — checked also on definitions that only
// pass the schema, since the record node's runtime check must hold without the validator.
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { Value } from 'typebox/value'
import { FlowDefinitionSchema, NODE_TYPES, type CampaignContext, type FlowDefinition } from '../../src/flows/definition.js'
import { MAX_STEPS_PER_REQUEST, runStep } from '../../src/flows/engine.js'
import {
  initialCallState,
  type CallState,
  type FlowContext,
  type FlowInput,
  type StepResult,
} from '../../src/flows/step-types.js'
import { apologyTwiml } from '../../src/flows/twiml.js'
import { validateFlow } from '../../src/flows/validate.js'
import { APOLOGY, consentNode, ctx, flow, last, ofType, resume, start } from './helpers.js'

t.test('guards answer with an apology and never throw', async (t) => {
  const def = flow({
    main: { type: 'menu', prompt: 'Press 1.', options: { 1: 'bye' }, noInput: 'bye' },
    hi: { type: 'say', text: 'Hi', next: 'main' },
    bye: { type: 'hangup' },
  })
  const waiting = runStep(def, initialCallState(), start, ctx()).nextState
  const refusals: Array<[string, CallState, FlowInput, string]> = [
    ['another node', waiting, resume('bye', '1'), 'refused-unexpected-resume'],
    ['a missing node', waiting, resume('nowhere'), 'refused-unexpected-resume'],
    ['an inherited name', waiting, resume('constructor'), 'refused-unexpected-resume'],
    ['a node that does not wait', { ...waiting, node: 'hi' }, resume('hi'), 'refused-unexpected-resume'],
    ['a second start', waiting, start, 'refused-already-started'],
    ['an ended call', { ...waiting, ended: true }, resume('main', '1'), 'refused-call-ended'],
    ['an ended call, started again', { ...waiting, ended: true }, start, 'refused-call-ended'],
  ]
  for (const [name, state, input, outcome] of refusals) {
    const result = runStep(def, state, input, ctx())
    t.equal(result.twiml, APOLOGY, name)
    t.match(result.effects, [{ type: 'logEvent', outcome }, { type: 'hangup' }], name)
    t.match(result.nextState, { ended: true, node: null, recording: false }, name)
  }
  t.match(runStep(def, waiting, resume('bye', '1'), ctx()).effects[0], { node: 'bye', input: '1' })
  t.equal(apologyTwiml(), APOLOGY)
})

t.test('flows that bypassed validation still end safely', async (t) => {
  const busy = flow({ a: { type: 'say', text: 'A', next: 'b' }, b: { type: 'say', text: 'B', next: 'a' } })
  const looped = runStep(busy, initialCallState(), start, ctx())
  t.equal(looped.twiml, APOLOGY)
  t.equal(ofType(looped.effects, 'logEvent').length, MAX_STEPS_PER_REQUEST + 1)
  t.match(last(ofType(looped.effects, 'logEvent')), { outcome: 'refused-too-many-steps' })

  const dangling = flow({ a: { type: 'say', text: 'A', next: 'gone' } })
  t.match(runStep(dangling, initialCallState(), start, ctx()).effects, [{}, { node: 'gone', outcome: 'refused-missing-node' }, {}])
  const noStart = { start: 'nothing', nodes: {} } as FlowDefinition
  t.equal(runStep(noStart, initialCallState(), start, ctx()).twiml, APOLOGY)
})

t.test('garbage in, apology out', async (t) => {
  const def = flow({ main: { type: 'menu', prompt: 'Press 1.', options: { 1: 'main' }, noInput: 'main' } })
  const bad: Array<[string, () => StepResult]> = [
    ['null input', () => runStep(def, initialCallState(), null as unknown as FlowInput, ctx())],
    ['unknown input kind', () => runStep(def, initialCallState(), { kind: 'jump' } as unknown as FlowInput, ctx())],
    ['null state', () => runStep(def, null as unknown as CallState, start, ctx())],
    ['null definition', () => runStep(null as unknown as FlowDefinition, initialCallState(), start, ctx())],
    ['null context', () => runStep(def, initialCallState(), start, null as unknown as FlowContext)],
  ]
  for (const [name, attempt] of bad) {
    let result: StepResult | undefined
    t.doesNotThrow(() => {
      result = attempt()
    }, name)
    t.equal(result?.twiml, APOLOGY, name)
    t.match(result?.nextState, { ended: true }, name)
  }
  const resumed = runStep(def, { ...initialCallState(), node: 'x', retries: { x: Number.NaN } }, { kind: 'resume', node: 'x', digits: 5 as unknown as string }, ctx())
  t.equal(resumed.twiml, APOLOGY)
})

t.test('an internal error keeps the facts but drops the stream it never started', async (t) => {
  const def = flow({
    ask: consentNode,
    rec: { type: 'record', next: 'menu' },
    menu: { type: 'menu', prompt: 'Press 1.', options: { 1: 'bye' }, noInput: 'bye' },
    bye: { type: 'hangup' },
  })
  const waiting = runStep(def, initialCallState(), start, ctx()).nextState
  const flowUrl = (node: string): string => {
    if (node === 'menu') throw new Error('no url')
    return `https://cg.example/${node}`
  }
  const result = runStep(def, waiting, resume('ask', '1'), ctx({ flowUrl }))
  t.equal(result.twiml, APOLOGY)
  t.match(ofType(result.effects, 'recordConsent'), [{ granted: true }])
  t.same(ofType(result.effects, 'startRecording'), [])
  t.match(result.effects.at(-2), { type: 'logEvent', node: 'ask', input: '1', outcome: 'error-engine' })
  t.match(result.nextState, { consent: 'granted', recording: false, ended: true })
  // A retry count that is not a number counts as none used.
  const odd = runStep(def, { ...waiting, retries: { ask: 'x' as unknown as number } }, resume('ask'), ctx())
  t.same(odd.nextState.retries, { ask: 1 })
})

// Fuzzing ---------------------------------------------------------------------------------

const SEED = 0x5eed_ca11
const DEFINITIONS = 500
const RUNS_PER_FLOW = 4
const STEPS_PER_RUN = 25

/** mulberry32: small, fast, and the same sequence on every machine. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

class Rng {
  constructor (readonly next: () => number) {}
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }

  chance (p: number): boolean {
    return this.next() < p
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

const fixtureDir = new URL('../fixtures/flows/valid/', import.meta.url)
const seeds = readdirSync(fixtureDir).map((file) => JSON.parse(readFileSync(new URL(file, fixtureDir), 'utf8')) as JsonObject)

const KEYS = ['0', '1', '2', '3', '9', '*', '#']
const FIELDS = ['next', 'noInput', 'granted', 'denied', 'open', 'closed', 'options', 'to', 'text', 'prompt', 'grantDigit', 'denyDigit', 'retries', 'timeoutSeconds', 'say', 'type', 'url']

function garbage (rng: Rng, depth = 0): Json {
  switch (rng.int(depth > 2 ? 6 : 8)) {
    case 0: return null
    case 1: return rng.int(1000) - 500
    case 2: return rng.pick(['', 'x', '1', '+442071234567', 'switchboard', 'constructor', '__proto__', '24:00'])
    case 3: return rng.chance(0.5)
    case 4: return rng.pick(NODE_TYPES)
    case 5: return 1.5
    case 6: return [garbage(rng, depth + 1), garbage(rng, depth + 1)]
    default: return { [rng.pick(FIELDS)]: garbage(rng, depth + 1), type: garbage(rng, depth + 1) }
  }
}

/** A node of a random type whose edges point at the given ids (mostly later ones, so few loops). */
function randomNode (rng: Rng, targets: string[]): JsonObject {
  const to = (): string => (targets.length === 0 || rng.chance(0.03) ? 'missing' : rng.pick(targets))
  const maybeNext = (): JsonObject => (rng.chance(0.8) ? { next: to() } : {})
  switch (rng.pick(NODE_TYPES)) {
    case 'say': return { type: 'say', text: 'Hello.', ...maybeNext() }
    case 'play': return { type: 'play', url: 'https://x.example/a.mp3', ...maybeNext() }
    case 'menu': {
      const options: JsonObject = {}
      for (let i = 0; i <= rng.int(3); i += 1) options[rng.pick(KEYS)] = to()
      return { type: 'menu', prompt: 'Choose.', options, noInput: to(), ...(rng.chance(0.5) ? { retries: rng.int(3) } : {}), ...(rng.chance(0.3) ? { invalidPrompt: 'No.' } : {}) }
    }
    case 'consent': return { type: 'consent', prompt: 'Record?', grantDigit: '1', denyDigit: rng.pick(['2', '9']), granted: to(), denied: to(), noInput: to(), retries: rng.int(2) }
    case 'record': return { type: 'record', next: to() }
    case 'stopRecording': return { type: 'stopRecording', next: to() }
    case 'dial': return { type: 'dial', to: rng.pick(['switchboard', '+442071234567', '+12125551234']), ...maybeNext() }
    case 'hours': return { type: 'hours', open: to(), closed: to() }
    case 'optout': return { type: 'optout', say: 'Done.', ...maybeNext() }
    case 'hangup': return rng.chance(0.5) ? { type: 'hangup' } : { type: 'hangup', say: 'Bye.' }
  }
}

function randomFlow (rng: Rng): JsonObject {
  const count = 2 + rng.int(9)
  const ids = Array.from({ length: count }, (_, i) => `n${i}`)
  const nodes: JsonObject = {}
  ids.forEach((id, i) => {
    // Mostly forward edges; sometimes anywhere, which makes loops for the validator to catch.
    const later = rng.chance(0.9) ? ids.slice(i + 1) : ids
    nodes[id] = randomNode(rng, later)
  })
  return { start: 'n0', nodes }
}

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function mutate (rng: Rng, def: JsonObject): Json {
  const nodes = def.nodes
  if (!isObject(nodes) || Object.keys(nodes).length === 0) return def
  const ids = Object.keys(nodes)
  const id = rng.pick(ids)
  const node = nodes[id]
  if (!isObject(node) || Object.keys(node).length === 0) {
    nodes[id] = randomNode(rng, ids)
    return def
  }
  switch (rng.int(9)) {
    case 0: node[rng.pick(['next', 'noInput', 'granted', 'denied', 'open', 'closed'])] = rng.pick([...ids, 'nowhere']); break
    case 1: delete node[rng.pick(Object.keys(node))]; break
    case 2: node.type = rng.pick([...NODE_TYPES, 'speak']); break
    case 3: node[rng.pick(FIELDS)] = garbage(rng); break
    case 4: nodes[`x${rng.int(100)}`] = randomNode(rng, ids); break
    case 5: delete nodes[id]; break
    case 6: def.start = rng.pick([...ids, 'nowhere']); break
    case 7: if (node.type === 'consent') [node.granted, node.denied] = [node.denied as Json, node.granted as Json]; else nodes[id] = randomNode(rng, ids); break
    default: return rng.chance(0.5) ? garbage(rng) : [def]
  }
  return def
}

function makeDefinition (rng: Rng): unknown {
  const roll = rng.next()
  if (roll < 0.05) return garbage(rng)
  let def: Json = roll < 0.5 ? (structuredClone(rng.pick(seeds)) as JsonObject) : randomFlow(rng)
  for (let i = rng.int(4); i > 0 && isObject(def); i -= 1) {
    def = mutate(rng, def)
  }
  return def
}

const campaigns: CampaignContext[] = [
  { timezone: 'Europe/London', hours: { mon: [['09:00', '17:00']], fri: [['22:00', '02:00']] }, holidays: ['2026-12-25'], switchboard: '+442079460000' },
  { timezone: 'America/New_York', hours: { tue: [['00:00', '24:00']] }, holidays: [], switchboard: null },
  { timezone: 'Not/AZone', hours: {}, holidays: [], switchboard: 'bad' },
]

function randomContext (rng: Rng, step: number): FlowContext {
  const optional = (): boolean | undefined => rng.pick([undefined, true, false])
  return {
    now: new Date(Date.UTC(2026, 0, 1) + rng.int(365 * 24 * 60) * 60_000),
    campaign: rng.pick(campaigns),
    flowUrl: (node) => `https://cg.example/twilio/flow?node=${encodeURIComponent(node)}`,
    streamUrl: 'wss://cg.example/twilio/media',
    streamToken: `token-${step}`,
    consentWritable: rng.chance(0.85) ? undefined : optional(),
    optoutWritable: optional(),
  }
}

interface Tally {
  valid: number;
  schemaOnly: number;
  runs: number;
  streams: number;
  refusals: number;
}

/** One call through the engine with random key presses; returns problems found. */
function fuzzRun (rng: Rng, def: FlowDefinition, validated: boolean, tally: Tally): string[] {
  const failures: string[] = []
  let state = initialCallState()
  let consent: 'none' | 'granted' | 'withheld' = 'none'
  for (let step = 0; step < STEPS_PER_RUN && !state.ended; step += 1) {
    const wrong = rng.chance(0.05)
    let input: FlowInput
    if (step === 0) input = { kind: 'start' }
    else {
      const node = wrong || state.node === null ? rng.pick([...Object.keys(def.nodes), 'nowhere']) : state.node
      input = { kind: 'resume', node, digits: rng.pick(['', '1', '2', '9', '*', '#', '5', '12', undefined]), dialStatus: rng.pick(['completed', 'busy', 'no-answer', undefined]) }
    }
    const expectRefusal = input.kind === 'resume' && input.node !== state.node
    let result
    try {
      result = runStep(def, state, input, randomContext(rng, step))
    } catch (err) {
      return [`runStep threw: ${String(err)}`]
    }
    for (const effect of result.effects) {
      if (effect.type === 'recordConsent') consent = effect.granted ? 'granted' : 'withheld'
      if (effect.type === 'startRecording' && consent !== 'granted') failures.push(`startRecording with consent ${consent}`)
      if (effect.type === 'logEvent' && /^(refused|error)-/.test(effect.outcome)) {
        tally.refusals += 1
        if (validated && !expectRefusal) failures.push(`valid flow refused: ${effect.outcome} at ${effect.node}`)
      }
    }
    if (result.twiml.includes('<Start>') && !result.effects.some((e) => e.type === 'startRecording')) {
      failures.push('a <Start> without a startRecording effect')
    }
    if (result.twiml.includes('<Stream') && consent === 'none') failures.push('<Stream> before any consent grant')
    if (result.twiml.includes('<Stream url')) tally.streams += 1
    if (!result.twiml.startsWith('<?xml') || !result.twiml.endsWith('</Response>')) failures.push('not a TwiML document')
    if (result.nextState.ended !== result.twiml.endsWith('<Hangup/></Response>')) failures.push('ended state and <Hangup/> disagree')
    if (!result.nextState.ended && result.nextState.node === null) failures.push('neither waiting nor ended')
    state = result.nextState
  }
  return failures
}

t.test(`${DEFINITIONS} fuzzed definitions`, async (t) => {
  const rng = new Rng(prng(SEED))
  const tally: Tally = { valid: 0, schemaOnly: 0, runs: 0, streams: 0, refusals: 0 }
  const failures: string[] = []
  for (let i = 0; i < DEFINITIONS; i += 1) {
    const def = makeDefinition(rng)
    let problems
    try {
      problems = validateFlow(def)
    } catch (err) {
      failures.push(`#${i} validateFlow threw: ${String(err)}`)
      continue
    }
    if (!Array.isArray(problems)) failures.push(`#${i} validateFlow returned ${typeof problems}`)
    const validated = problems.length === 0
    if (validated) tally.valid += 1
    else if (Value.Check(FlowDefinitionSchema, def)) tally.schemaOnly += 1
    else continue
    for (let run = 0; run < RUNS_PER_FLOW; run += 1) {
      tally.runs += 1
      for (const failure of fuzzRun(rng, def as FlowDefinition, validated, tally)) {
        failures.push(`#${i} run ${run}: ${failure} in ${JSON.stringify(def)}`)
      }
    }
  }
  t.same(failures.slice(0, 5), [], 'no failures')
  t.equal(failures.length, 0, 'failure count')
  // The fuzzing only means something if it reaches the interesting cases.
  t.ok(tally.valid >= 50, `valid definitions: ${tally.valid}`)
  t.ok(tally.schemaOnly >= 50, `schema-only definitions: ${tally.schemaOnly}`)
  t.ok(tally.streams >= 20, `runs that started a stream: ${tally.streams}`)
  t.ok(tally.refusals > 0, `refusals seen: ${tally.refusals}`)
})
