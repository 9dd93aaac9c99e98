import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { graphView } from '../../src/flows/graph-view.js'
import { validateFlow } from '../../src/flows/validate.js'
import { load } from './helpers.js'

const fixtures = new URL('../fixtures/flows/', import.meta.url)
const invalid = (name: string): unknown =>
  (JSON.parse(readFileSync(new URL(`invalid/${name}.json`, fixtures), 'utf8')) as { flow: unknown }).flow

t.test('the design example: nodes in order, labelled edges, consent proven only after the grant', async (t) => {
  const view = graphView(load('design-example.json'))
  t.ok(view)
  t.equal(view!.start, 'hours')
  t.same(
    view!.nodes.map((n) => [n.id, n.type, n.consentOnEntry]),
    [
      ['hours', 'hours', false],
      ['afterHours', 'dial', false],
      ['welcome', 'say', false],
      ['consent', 'consent', false],
      ['record', 'record', true],
      // Reached from the record node (consent granted) and from denied/noInput: not certain.
      ['menu', 'menu', false],
      ['sales', 'dial', false],
      ['optout', 'optout', false],
      ['bye', 'hangup', false],
    ]
  )
  t.same(view!.edges, [
    { from: 'hours', to: 'welcome', label: 'open', grantsConsent: false },
    { from: 'hours', to: 'afterHours', label: 'closed', grantsConsent: false },
    { from: 'welcome', to: 'consent', label: '', grantsConsent: false },
    { from: 'consent', to: 'record', label: 'granted', grantsConsent: true },
    { from: 'consent', to: 'menu', label: 'denied', grantsConsent: false },
    { from: 'consent', to: 'menu', label: 'no input', grantsConsent: false },
    { from: 'record', to: 'menu', label: '', grantsConsent: false },
    { from: 'menu', to: 'sales', label: '1', grantsConsent: false },
    { from: 'menu', to: 'optout', label: '9', grantsConsent: false },
    { from: 'menu', to: 'sales', label: 'no input', grantsConsent: false },
    { from: 'sales', to: 'bye', label: '', grantsConsent: false },
    { from: 'optout', to: 'bye', label: '', grantsConsent: false },
  ])
})

t.test('consent granted then withdrawn is not consent', async (t) => {
  const view = graphView(invalid('record-after-consent-withdrawn'))
  const entry = Object.fromEntries(view!.nodes.map((n) => [n.id, n.consentOnEntry]))
  t.same(entry, { first: false, second: true, talk: true, rec: false, bye: false })
})

t.test('nodes nothing reaches have no verdict; edges naming no node are left out', async (t) => {
  const view = graphView({
    start: 'hello',
    nodes: {
      hello: { type: 'say', text: 'Hi', next: 'gone' },
      island: { type: 'record', next: 'hello' },
    },
  })
  t.same(view, {
    start: 'hello',
    nodes: [
      { id: 'hello', type: 'say', consentOnEntry: false },
      { id: 'island', type: 'record', consentOnEntry: null },
    ],
    edges: [{ from: 'island', to: 'hello', label: '', grantsConsent: false }],
  })
  const nowhere = graphView(invalid('start-names-no-node'))
  t.same(nowhere, { start: 'begin', nodes: [{ id: 'bye', type: 'hangup', consentOnEntry: null }], edges: [] }, 'a start naming no node reaches nothing')
})

t.test('no view when the shape is too broken to tell the graph', async (t) => {
  for (const name of ['not-an-object', 'nodes-missing', 'missing-start', 'unknown-node-type', 'missing-node-type', 'missing-target', 'schema-wrong-type']) {
    t.equal(graphView(invalid(name)), null, name)
  }
  t.equal(graphView(null), null)
  t.equal(graphView({ start: 'a', nodes: [] }), null, 'nodes must be an object')
})

// The view and the validator read one analysis: a record node is marked as reached without
// consent exactly when saving it is refused for that reason, across the whole fixture corpus.
t.test('record nodes reached without consent are exactly those the validator rejects', async (t) => {
  let records = 0
  for (const kind of ['valid', 'invalid']) {
    const dir = new URL(`${kind}/`, fixtures)
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const raw = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { flow?: unknown }
      const def = kind === 'valid' ? raw : raw.flow
      const view = graphView(def)
      if (view === null) continue
      const rejected = new Set(
        validateFlow(def)
          .filter((p) => p.message.startsWith('recording without consent'))
          .map((p) => p.path.slice('/nodes/'.length))
      )
      for (const node of view.nodes.filter((n) => n.type === 'record')) {
        records += 1
        t.equal(node.consentOnEntry === false, rejected.has(node.id), `${kind}/${file}: ${node.id}`)
      }
    }
  }
  t.ok(records >= 8, `${records} record nodes checked`)
})
