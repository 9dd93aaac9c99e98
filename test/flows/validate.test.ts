import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import type { CampaignContext, FlowDefinition } from '../../src/flows/definition.js'
import { pointer, type Problem } from '../../src/flows/problem.js'
import { checkAgainstCampaign, requirementsOf, validateFlow } from '../../src/flows/validate.js'

const fixtures = new URL('../fixtures/flows/', import.meta.url)

function readFixtures (kind: 'valid' | 'invalid'): Array<[string, unknown]> {
  const dir = new URL(`${kind}/`, fixtures)
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => [file, JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as unknown])
}

interface Expected {
  path: string;
  message: string;
}

t.test('every valid fixture validates without problems', async (t) => {
  const valid = readFixtures('valid')
  t.ok(valid.some(([file]) => file === 'design-example.json'), 'the DESIGN.md example is in the corpus')
  for (const [file, flow] of valid) t.same(validateFlow(flow), [], file)
})

// Each invalid fixture names exactly the problems it must produce, so each rule has a fixture
// that fails if the rule is removed, and none of them trips over another rule by accident.
t.test('every invalid fixture produces exactly its expected problems', async (t) => {
  const invalid = readFixtures('invalid')
  t.ok(invalid.length >= 25, 'one fixture per rule')
  for (const [file, fixture] of invalid) {
    const { flow, expect } = fixture as { flow: unknown; expect: Expected | Expected[] }
    const expected = Array.isArray(expect) ? expect : [expect]
    const problems = validateFlow(flow)
    t.equal(problems.length, expected.length, `${file}: number of problems`, { problems })
    for (const want of expected) {
      const found = problems.some((p) => p.path === want.path && p.message.includes(want.message))
      t.ok(found, `${file}: ${want.path} "${want.message}"`, { problems })
    }
  }
})

t.test('never throws on garbage and always reports it', async (t) => {
  const deep: Record<string, unknown> = {}
  let cursor = deep
  for (let i = 0; i < 2000; i += 1) {
    cursor.x = {}
    cursor = cursor.x as Record<string, unknown>
  }
  const cyclic: Record<string, unknown> = { type: 'say', text: 'hi' }
  cyclic.self = cyclic
  const throwing = {
    get start (): string {
      throw new Error('boom')
    },
    nodes: {},
  }
  const garbage: unknown[] = [
    null,
    undefined,
    0,
    42,
    'flow',
    true,
    [],
    [{ start: 'a' }],
    {},
    { start: 1, nodes: [] },
    { start: '', nodes: {} },
    { start: 'a', nodes: { a: null } },
    { start: 'a', nodes: { a: [] } },
    { start: 'a', nodes: { a: { type: 7 } } },
    { start: 'a', nodes: { a: { type: 'menu', options: 'x', prompt: [], noInput: {} } } },
    { start: 'a', nodes: { a: { type: 'consent', grantDigit: 1, denyDigit: null } } },
    { start: 'a', nodes: { a: deep } },
    { start: 'a', nodes: { a: { type: 'say', text: 'hi', next: deep } } },
    { start: 'a', nodes: { a: cyclic } },
    JSON.parse('{"start":"constructor","nodes":{"__proto__":{"type":"hangup"},"toString":{"type":"say"}}}'),
    throwing,
  ]
  for (const [index, def] of garbage.entries()) {
    let problems: Problem[] = []
    t.doesNotThrow(() => {
      problems = validateFlow(def)
    }, `garbage #${index}`)
    t.ok(problems.length > 0, `garbage #${index} is reported`)
    for (const problem of problems) {
      t.type(problem.path, 'string')
      t.type(problem.message, 'string')
    }
  }
  t.match(validateFlow(throwing), [{ path: '', message: /could not be checked: boom/ }])
  const bare = Object.assign(Object.create(null) as object, { start: 'a', nodes: { a: { type: 'hangup' } } })
  t.same(validateFlow(bare), [], 'an object without a prototype is still a flow')
})

t.test('inherited names are not mistaken for nodes', async (t) => {
  const problems = validateFlow({ start: 'constructor', nodes: { hello: { type: 'say', text: 'Hi', next: 'toString' } } })
  t.match(problems, [
    { path: '/start', message: /start names no node "constructor"/ },
    { path: '/nodes/hello/next', message: /names no node "toString"/ },
  ])
})

t.test('paths are JSON pointers with RFC 6901 escapes', async (t) => {
  t.equal(pointer('nodes', 'a/b', 'options', '~'), '/nodes/a~1b/options/~0')
  const problems = validateFlow({ start: 'a/b', nodes: { 'a/b': { type: 'say', text: 'Hi', next: 'x~y' } } })
  t.match(problems, [
    { path: '/nodes/a~1b', message: /invalid node id/ },
    { path: '/nodes/a~1b/next', message: /names no node "x~y"/ },
  ])
})

t.test('a malformed node hides unreachability rather than inventing it', async (t) => {
  const problems = validateFlow({
    start: 'a',
    nodes: { a: { type: 'say', text: 'Hi', next: 'b' }, b: { type: 'say', next: 'c' }, c: { type: 'hangup' } },
  })
  t.same(problems, [{ path: '/nodes/b/text', message: '"text" is required for a say node' }])
})

t.test('a record reached only through a grant is accepted, even after stopRecording', async (t) => {
  const flow = {
    start: 'ask',
    nodes: {
      ask: { type: 'consent', prompt: 'Press 1.', grantDigit: '1', denyDigit: '2', granted: 'rec', denied: 'bye', noInput: 'bye' },
      rec: { type: 'record', next: 'stop' },
      stop: { type: 'stopRecording', next: 'menu' },
      menu: { type: 'menu', prompt: 'Press 1 to record again.', options: { 1: 'rec' }, noInput: 'bye' },
      bye: { type: 'hangup' },
    },
  }
  t.same(validateFlow(flow), [])
})

const design = JSON.parse(
  readFileSync(new URL('valid/design-example.json', fixtures), 'utf8')
) as FlowDefinition
const weekdays: CampaignContext['hours'] = { mon: [['09:00', '17:00']] }

t.test('requirementsOf names what the campaign must supply', async (t) => {
  t.same(requirementsOf(design), { needsSwitchboard: true, needsHours: true })
  t.same(requirementsOf({ start: 'bye', nodes: { bye: { type: 'hangup' } } }), {
    needsSwitchboard: false,
    needsHours: false,
  })
})

t.test('checkAgainstCampaign at publish time', async (t) => {
  t.same(checkAgainstCampaign(design, { switchboard: '+442071234567', hours: weekdays, timezone: 'Europe/London' }), [])
  t.same(checkAgainstCampaign(design, { switchboard: null, hours: weekdays, timezone: 'Europe/London' }), [
    { path: '/nodes/afterHours/to', message: 'dial to switchboard needs a campaign switchboard' },
  ])
  t.match(checkAgainstCampaign(design, { switchboard: 'reception', hours: weekdays, timezone: 'Europe/London' }), [
    { path: '/nodes/afterHours/to' },
  ])
  for (const campaign of [
    { hours: {}, timezone: 'Europe/London' },
    { hours: { mon: [] }, timezone: 'Europe/London' },
    { hours: weekdays, timezone: 'Mars/Olympus' },
    { hours: { mon: [['09:00', '09:00']] }, timezone: 'Europe/London' },
  ] as Array<Pick<CampaignContext, 'hours' | 'timezone'>>) {
    t.match(
      checkAgainstCampaign(design, { switchboard: '+442071234567', ...campaign }),
      [{ path: '/nodes/hours', message: /hours node needs campaign hours/ }],
      JSON.stringify(campaign)
    )
  }
})
