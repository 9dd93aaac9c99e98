// Issue 17, finding 2: the validator's work and answer grow with the definition, not with its
// square, and definitions are bounded (nodes, texts, ids, menu options, body size). Timings are
// bench/validate.ts's job; these tests check the structure that makes them hold: problems are
// capped, witness paths are cut short, and a quadratic answer (the old one was 34 MB for 3,000
// nodes) cannot fit under the size asserted here.
import t from 'tap'
import { validateFlow } from '../../src/flows/validate.js'
import { admin } from '../helper.js'
import { setup } from '../media-helpers.js'

// The contract's numbers, written out (README): src/flows/definition.ts, problem.ts, graph-view.ts.
const MAX_NODES = 20_000
const MAX_TEXT_LENGTH = 4096
const MAX_PROBLEMS = 100
const MAX_GRAPH_VIEW_NODES = 500
const KB = 1024
const consent = (granted: string, denied: string) => ({
  type: 'consent',
  prompt: 'Press 1 to allow recording, 2 to refuse.',
  grantDigit: '1',
  denyDigit: '2',
  granted,
  denied,
  noInput: denied,
})

/** n nodes: n - 1 record nodes in a row, then a hangup; nobody asked for consent. */
function recordChain (n: number): { start: string; nodes: Record<string, unknown> } {
  const nodes: Record<string, unknown> = {}
  for (let i = 0; i < n - 1; i += 1) nodes[`r${i}`] = { type: 'record', next: i === n - 2 ? 'bye' : `r${i + 1}` }
  nodes.bye = { type: 'hangup' }
  return { start: 'r0', nodes }
}

const size = (value: unknown): number => Buffer.byteLength(JSON.stringify(value))

t.test('a chain of records without consent: every one is found, the first hundred listed, paths cut short', async (t) => {
  // Small enough that today's code fails this quickly instead of running for a minute.
  const small = validateFlow(recordChain(2000))
  t.ok(size(small) < 100 * KB, `2,000 nodes: problems are ${size(small)} bytes`)

  const problems = validateFlow(recordChain(10_000))
  t.equal(problems.length, MAX_PROBLEMS + 1, 'the cap and one line counting the rest')
  t.ok(size(problems) < 100 * KB, `10,000 nodes: problems are ${size(problems)} bytes`)
  t.same(
    problems.slice(0, MAX_PROBLEMS).map((p) => p.path),
    Array.from({ length: MAX_PROBLEMS }, (_, i) => `/nodes/r${i}`),
    'in definition order'
  )
  t.match(problems[0], { message: /^recording without consent: the path r0 reaches this record node/ })
  t.match(problems[7], { message: /the path r0 → r1 → r2 → r3 → r4 → r5 → r6 → r7 reaches/ }, 'eight nodes are shown whole')
  t.match(problems[8], { message: /the path r0 → r1 → r2 → r3 → … 1 more … → r5 → r6 → r7 → r8 reaches/ })
  t.match(problems[99], { message: /the path r0 → r1 → r2 → r3 → … 92 more … → r96 → r97 → r98 → r99 reaches/ })
  t.same(problems[MAX_PROBLEMS], {
    path: '',
    message: '9,899 more problems not listed: at most 100 are reported at once; fix these and validate again',
  })
})

t.test('consent granted, then withdrawn deep in a large flow: one problem, its path cut short', async (t) => {
  const nodes: Record<string, unknown> = { ask: consent('r0', 'bye') }
  for (let i = 0; i < 5000; i += 1) nodes[`r${i}`] = { type: 'record', next: i === 4999 ? 'again' : `r${i + 1}` }
  // Anything but a press of the grant key withdraws consent: the record after it is unproven.
  nodes.again = consent('talk', 'late')
  nodes.talk = { type: 'dial', to: '+442071234567' }
  nodes.late = { type: 'record', next: 'bye' }
  nodes.bye = { type: 'hangup' }
  t.same(validateFlow({ start: 'ask', nodes }), [
    {
      path: '/nodes/late',
      message:
        "recording without consent: the path ask → r0 → r1 → r2 → … 4995 more … → r4998 → r4999 → again → late reaches this record node without passing a consent node's \"granted\" edge",
    },
  ])
  nodes.again = consent('talk', 'bye')
  delete nodes.late
  t.same(validateFlow({ start: 'ask', nodes }), [], 'every record behind the grant: valid')
})

t.test('a long loop is named by its ends', async (t) => {
  const nodes: Record<string, unknown> = {}
  for (let i = 0; i < 1000; i += 1) nodes[`s${i}`] = { type: 'say', text: 'Hello.', next: `s${(i + 1) % 1000}` }
  t.same(validateFlow({ start: 's0', nodes }), [
    {
      path: '/nodes/s0/next',
      message: 'loop without waiting for caller input: s0 → s1 → s2 → s3 → … 993 more … → s997 → s998 → s999 → s0 (put a menu, consent or dial in it, or end it)',
    },
  ])
})

t.test('many small loops and branches stay linear and capped', async (t) => {
  const nodes: Record<string, unknown> = {}
  // 5,000 two-node loops, each reached from a menu chain: a loop sorter that scanned the whole
  // graph per loop did 5,000 × 15,000 steps here.
  for (let i = 0; i < 5000; i += 1) {
    nodes[`m${i}`] = { type: 'menu', prompt: 'Press 1.', options: { 1: `a${i}` }, noInput: i === 4999 ? 'bye' : `m${i + 1}` }
    nodes[`a${i}`] = { type: 'say', text: 'A.', next: `b${i}` }
    nodes[`b${i}`] = { type: 'say', text: 'B.', next: `a${i}` }
  }
  nodes.bye = { type: 'hangup' }
  const problems = validateFlow({ start: 'm0', nodes })
  t.equal(problems.length, MAX_PROBLEMS + 1)
  t.same(problems[0], { path: '/nodes/a0/next', message: 'loop without waiting for caller input: a0 → b0 → a0 (put a menu, consent or dial in it, or end it)' })
  t.match(problems[MAX_PROBLEMS], { message: /^4,900 more problems not listed/ })
})

t.test('limits name the field and the bound', async (t) => {
  const over: Record<string, unknown> = {}
  for (let i = 0; i <= MAX_NODES; i += 1) over[`n${i}`] = { type: 'hangup' }
  t.same(validateFlow({ start: 'n0', nodes: over }), [{ path: '/nodes', message: 'too many nodes: 20,001; a flow has at most 20,000' }])

  const hello = (node: Record<string, unknown>) => validateFlow({ start: 'hello', nodes: { hello: node } })
  t.same(hello({ type: 'say', text: 'x'.repeat(MAX_TEXT_LENGTH) }), [], 'the longest text is accepted')
  t.same(hello({ type: 'say', text: 'x'.repeat(MAX_TEXT_LENGTH + 1) }), [{ path: '/nodes/hello/text', message: 'must not have more than 4096 characters' }])
  t.same(hello({ type: 'menu', prompt: 'x'.repeat(5000), options: { 1: 'hello' }, noInput: 'hello' }), [
    { path: '/nodes/hello/prompt', message: 'must not have more than 4096 characters' },
  ])
  t.same(hello({ type: 'say', text: 'Hi', next: 'n'.repeat(100_000) }), [{ path: '/nodes/hello/next', message: 'must not have more than 64 characters' }])
  const keys = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', '##']
  t.same(hello({ type: 'menu', prompt: 'Choose.', options: Object.fromEntries(keys.map((k) => [k, 'hello'])), noInput: 'hello' }), [
    { path: '/nodes/hello/options', message: 'a menu has at most 12 options, one per key (0-9, * and #)' },
  ])
  t.same(hello({ type: 'dial', to: '+'.repeat(10_000) }), [{ path: '/nodes/hello/to', message: 'must not have more than 32 characters' }])

  // An over-long id would be repeated in the path of every problem of its node: one problem.
  const longId = 'a'.repeat(100_000)
  const problems = validateFlow({ start: 'hello', nodes: { hello: { type: 'say', text: 'Hi', next: 'bye' }, bye: { type: 'hangup' }, [longId]: { type: 'menu', a: 1, b: 2, c: 3 } } })
  t.equal(problems.length, 1)
  t.match(problems[0], { message: /^node id "a{64}…" is 100000 characters long: at most 64 are allowed$/ })
  t.ok(size(problems) < 2 * longId.length, 'the id is not repeated')

  const unknownKeys = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${'k'.repeat(10_000)}${i}`, 1]))
  const echoed = validateFlow({ start: 'hello', nodes: { hello: { type: 'hangup', ...unknownKeys } } })
  t.ok(size(echoed) < 3 * size(unknownKeys), 'each unknown name is quoted cut short in its message')
})

t.test('the flow routes', async (t) => {
  const { app } = await setup(t)
  const flowId = (await app.inject({ method: 'GET', url: '/api/flows', headers: admin })).json()[0].id as string
  const post = (url: string, payload: unknown) =>
    app.inject({ method: 'POST', url, headers: { ...admin, 'content-type': 'application/json' }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })

  t.test('validating 10,000 nodes answers under 100 KB, problems capped, no graph', async (t) => {
    const res = await post('/api/flows/validate', { definition: recordChain(10_000) })
    t.equal(res.statusCode, 200)
    t.ok(res.rawPayload.length < 100 * KB, `reply ${res.rawPayload.length} bytes`)
    const body = res.json()
    t.equal(body.valid, false)
    t.equal(body.problems.length, MAX_PROBLEMS + 1)
    t.equal(body.graph, null, `no graph beyond ${MAX_GRAPH_VIEW_NODES} nodes`)
    const drawn = (await post('/api/flows/validate', { definition: recordChain(MAX_GRAPH_VIEW_NODES) })).json()
    t.equal(drawn.graph.nodes.length, MAX_GRAPH_VIEW_NODES, 'a graph up to the limit')
  })

  t.test('saving or simulating a definition over a limit: 400 naming the field and the limit', async (t) => {
    const over: Record<string, unknown> = {}
    for (let i = 0; i <= MAX_NODES; i += 1) over[`n${i}`] = { type: 'hangup' }
    const tooMany = await post(`/api/flows/${flowId}/versions`, { definition: { start: 'n0', nodes: over } })
    t.equal(tooMany.statusCode, 400)
    t.match(tooMany.json(), {
      code: 'CG_INVALID_FLOW',
      message: /\/definition\/nodes too many nodes: 20,001; a flow has at most 20,000/,
      problems: [{ path: '/definition/nodes', message: 'too many nodes: 20,001; a flow has at most 20,000' }],
    })

    const longText = { start: 'hello', nodes: { hello: { type: 'say', text: 'x'.repeat(MAX_TEXT_LENGTH + 1) } } }
    const saved = await post(`/api/flows/${flowId}/versions`, { definition: longText })
    t.equal(saved.statusCode, 400)
    t.same(saved.json().problems, [{ path: '/definition/nodes/hello/text', message: 'must not have more than 4096 characters' }])
    const simulated = await post(`/api/flows/${flowId}/simulate`, { definition: longText, digits: [], at: '2026-11-24T10:00:00Z' })
    t.equal(simulated.statusCode, 400)
    t.same(simulated.json().problems, [{ path: '/definition/nodes/hello/text', message: 'must not have more than 4096 characters' }])
    const checked = await post('/api/flows/validate', { definition: longText })
    t.equal(checked.statusCode, 200, 'validate reports it as a problem, as it reports every other')
    t.same(checked.json().problems, [{ path: '/nodes/hello/text', message: 'must not have more than 4096 characters' }])
  })

  t.test('a body over 2 MiB: 413 naming the limit; one over Fastify\'s default 1 MiB but under 2 MiB is read', async (t) => {
    const padded = (bytes: number) => {
      const head = JSON.stringify({ definition: { start: 'bye', nodes: { bye: { type: 'hangup', say: '' } } } })
      // Spaces are valid JSON whitespace: the body grows, the definition stays the same.
      return head.slice(0, -1) + ' '.repeat(bytes - head.length) + '}'
    }
    for (const url of ['/api/flows/validate', `/api/flows/${flowId}/versions`, `/api/flows/${flowId}/simulate`]) {
      const res = await post(url, padded(2 * 1024 * 1024 + 1))
      t.equal(res.statusCode, 413, url)
      t.match(res.json(), { statusCode: 413, code: 'CG_PAYLOAD_TOO_LARGE', message: 'request body is over 2097152 bytes (2 MiB), the limit for a flow definition' }, url)
    }
    const read = await post('/api/flows/validate', padded(1536 * 1024))
    t.equal(read.statusCode, 200)
    t.same(read.json().problems, [{ path: '/nodes/bye/say', message: 'must not be empty' }])
  })
})
