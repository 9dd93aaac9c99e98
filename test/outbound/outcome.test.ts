import t from 'tap'
import { abandonRate, contactAfter, outcomeOf } from '../../src/dialler/outcome.js'

const settings = { maxAttempts: 3, retryAfterSeconds: { busy: 900, noAnswer: 3600, failed: 1800, machine: 14400 } }
const now = new Date('2026-11-24T10:00:00Z')
const later = (s: number) => new Date(now.getTime() + s * 1000)

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

t.test('where the contact goes', async (t) => {
  t.same(contactAfter('human', 1, settings, now), { status: 'completed', nextAttemptAt: null })
  t.same(contactAfter('optedOut', 1, settings, now), { status: 'suppressed', nextAttemptAt: null })
  t.same(contactAfter('busy', 1, settings, now), { status: 'scheduled', nextAttemptAt: later(900) })
  t.same(contactAfter('noAnswer', 2, settings, now), { status: 'scheduled', nextAttemptAt: later(3600) })
  t.same(contactAfter('failed', 1, settings, now), { status: 'scheduled', nextAttemptAt: later(1800) })
  t.same(contactAfter('machine', 1, settings, now), { status: 'scheduled', nextAttemptAt: later(14400) })
  t.same(contactAfter('abandoned', 1, settings, now), { status: 'scheduled', nextAttemptAt: later(72 * 3600) }, 'no repeat within 72 hours')
  t.same(contactAfter('abandoned', 1, { ...settings, retryAfterSeconds: { ...settings.retryAfterSeconds, noAnswer: 100 * 3600 } }, now), { status: 'scheduled', nextAttemptAt: later(100 * 3600) })
  t.same(contactAfter('busy', 3, settings, now), { status: 'exhausted', nextAttemptAt: null }, 'maxAttempts')
  t.same(contactAfter('abandoned', 3, settings, now), { status: 'exhausted', nextAttemptAt: null })
})

t.test('the abandoned rate: a percentage of the calls a person answered', async (t) => {
  t.equal(abandonRate({ human: 0, abandoned: 0, optedOut: 0 }), 0)
  t.equal(abandonRate({ human: 97, abandoned: 3, optedOut: 0 }), 3)
  t.equal(abandonRate({ human: 95, abandoned: 3, optedOut: 2 }), 3)
  t.equal(abandonRate({ human: 2, abandoned: 1, optedOut: 0 }), 33.33)
})
