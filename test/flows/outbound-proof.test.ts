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
