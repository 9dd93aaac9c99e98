import t from 'tap'
import { abandonRate, contactRule, outcomeOf } from '../../src/dialler/outcome.js'

t.test('the outcome of a call from its final status, machine detection and the flow', async (t) => {
  const end = { status: 'completed', answeredBy: null, flowRan: true, optedOut: false }
  t.equal(outcomeOf(end), 'human')
  t.equal(outcomeOf({ ...end, answeredBy: 'human' }), 'human')
  t.equal(outcomeOf({ ...end, answeredBy: 'unknown' }), 'human', 'detection unsure: a person is presumed')
  for (const by of ['machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax']) t.equal(outcomeOf({ ...end, answeredBy: by }), 'machine', by)
  t.equal(outcomeOf({ ...end, flowRan: false }), 'abandoned', 'answered, and no flow step reached the person')
  t.equal(outcomeOf({ ...end, answeredBy: 'machine_start', flowRan: false }), 'machine', 'a machine is not abandoned')
  t.equal(outcomeOf({ ...end, optedOut: true, answeredBy: 'machine_start' }), 'optedOut', 'an opt-out wins')
  t.equal(outcomeOf({ ...end, status: 'busy', flowRan: false }), 'busy')
  t.equal(outcomeOf({ ...end, status: 'no-answer', flowRan: false }), 'noAnswer')
  t.equal(outcomeOf({ ...end, status: 'failed', flowRan: false }), 'failed')
  t.equal(outcomeOf({ ...end, status: 'canceled', flowRan: false }), 'failed')
})

t.test('how each outcome moves the contact (applied by the settling statement, with the campaign\'s settings)', async (t) => {
  t.same(contactRule('human'), { status: 'completed', exhaustible: false, retryAfter: null, minDelayMs: 0 })
  t.same(contactRule('optedOut'), { status: 'suppressed', exhaustible: false, retryAfter: null, minDelayMs: 0 })
  t.same(contactRule('busy'), { status: 'scheduled', exhaustible: true, retryAfter: 'busy', minDelayMs: 0 })
  t.same(contactRule('noAnswer'), { status: 'scheduled', exhaustible: true, retryAfter: 'noAnswer', minDelayMs: 0 })
  t.same(contactRule('failed'), { status: 'scheduled', exhaustible: true, retryAfter: 'failed', minDelayMs: 0 })
  t.same(contactRule('machine'), { status: 'scheduled', exhaustible: true, retryAfter: 'machine', minDelayMs: 0 })
  t.same(contactRule('abandoned'), { status: 'scheduled', exhaustible: true, retryAfter: 'noAnswer', minDelayMs: 72 * 3600_000 }, 'no repeat within 72 hours')
})

t.test('the abandoned rate: a percentage of the calls a person answered', async (t) => {
  t.equal(abandonRate({ human: 0, abandoned: 0, optedOut: 0 }), 0)
  t.equal(abandonRate({ human: 97, abandoned: 3, optedOut: 0 }), 3)
  t.equal(abandonRate({ human: 95, abandoned: 3, optedOut: 2 }), 3)
  t.equal(abandonRate({ human: 2, abandoned: 1, optedOut: 0 }), 33.33)
})
