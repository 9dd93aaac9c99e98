import { readFileSync } from 'node:fs'
import t from 'tap'
import { checkOutboundFlow, validateFlow, type FlowDefinition } from '../../src/flows/index.js'

const read = (path: string) => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as FlowDefinition
const valid = (def: FlowDefinition) => {
  t.same(validateFlow(def), [], 'a valid flow to begin with')
  return def
}

t.test('the outbound example lets the callee refuse before any transfer or hang-up', async (t) => {
  t.same(checkOutboundFlow(valid(read('../../examples/outbound-flow.json'))), [])
})

t.test('a transfer reached without the offer is refused, with the path', async (t) => {
  const problems = checkOutboundFlow(valid(read('../fixtures/flows/valid/design-example.json')))
  t.equal(problems.length, 1)
  t.equal(problems[0]!.path, '/nodes/afterHours')
  t.match(problems[0]!.message, 'the path hours → afterHours reaches this dial node')
})

t.test('the offer may lead to the optout through other nodes; an end without it is refused', async (t) => {
  const def = valid({
    start: 'menu',
    nodes: {
      menu: { type: 'menu', prompt: 'Press 1 for an adviser, 9 to stop our calls.', options: { 1: 'adviser', 9: 'sure' }, timeoutSeconds: 5, retries: 1, noInput: 'bye' },
      sure: { type: 'menu', prompt: 'Press 9 again to confirm.', options: { 9: 'optout' }, timeoutSeconds: 5, retries: 1, noInput: 'menu' },
      adviser: { type: 'dial', to: '+442039364242', timeoutSeconds: 25, next: 'bye' },
      optout: { type: 'optout', say: 'Done.', next: 'bye' },
      bye: { type: 'hangup' }
    }
  } as unknown as FlowDefinition)
  t.same(checkOutboundFlow(def), [], 'two menus deep is still an offer')

  const rude = valid({
    start: 'intro',
    nodes: {
      intro: { type: 'say', text: 'Hello.', next: 'menu' },
      menu: { type: 'menu', prompt: 'Press 1 for an adviser, 2 to hear this again.', options: { 1: 'adviser', 2: 'menu' }, timeoutSeconds: 5, retries: 1, noInput: 'bye' },
      adviser: { type: 'dial', to: '+442039364242', timeoutSeconds: 25, next: 'bye' },
      bye: { type: 'hangup' }
    }
  } as unknown as FlowDefinition)
  const problems = checkOutboundFlow(rude)
  t.same(problems.map((p) => p.path), ['/nodes/adviser', '/nodes/bye'], 'both the transfer and the hang-up are reached without the offer')
  t.match(problems[0]!.message, 'intro → menu → adviser')
})

t.test('an opt-out without a menu before it is no problem: the callee is not called again', async (t) => {
  const def = valid({
    start: 'optout',
    nodes: { optout: { type: 'optout', say: 'You will not be called again.' } }
  } as unknown as FlowDefinition)
  t.same(checkOutboundFlow(def), [])
})

t.test('the machine entry: a message for answering machines, checked like start\'s paths', async (t) => {
  const example = JSON.parse(readFileSync(new URL('../../examples/outbound-flow.json', import.meta.url), 'utf8')) as FlowDefinition
  t.equal(example.machine, 'voicemail')
  t.same(validateFlow(example), [], 'the example is valid')
  t.same(checkOutboundFlow(example), [], 'the machine path needs no offer: a machine cannot press a key')

  const silent = { ...example, machine: 'bye' }
  t.match(validateFlow(silent), [{ path: '/machine', message: /say or play node.*not a hangup node/ }], 'a machine entry that says nothing is refused')
  t.match(validateFlow({ ...example, machine: 'nowhere' }), [{ path: '/machine', message: 'machine names no node "nowhere"' }])
  t.match(validateFlow({ ...example, machine: 7 }), [{ path: '/machine', message: 'machine must be the id of a node' }])

  // Nodes reached only from the machine entry are reachable; without it they are not.
  const noMachine = { ...example } as Partial<FlowDefinition>
  delete noMachine.machine
  t.match(validateFlow(noMachine), [{ path: '/nodes/voicemail', message: 'node "voicemail" is unreachable from start' }])

  // The consent proof covers the machine's path too.
  const recordsMachines = { ...example, nodes: { ...example.nodes, voicemail: { type: 'say', text: 'Hello from Acme.', next: 'record' } } } as FlowDefinition
  t.match(validateFlow(recordsMachines), [{ path: '/nodes/record', message: /recording without consent: the path voicemail → record/ }])
})
