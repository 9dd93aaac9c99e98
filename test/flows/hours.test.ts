import t from 'tap'
import type { CampaignContext, WeeklyHours } from '../../src/flows/definition.js'
import { isOpen, isValidTimeZone, validateHolidays, validateHours } from '../../src/flows/hours.js'

const nineToFive: [string, string][] = [['09:00', '17:00']]
const everyDay = (intervals: [string, string][]): WeeklyHours => ({
  mon: intervals,
  tue: intervals,
  wed: intervals,
  thu: intervals,
  fri: intervals,
  sat: intervals,
  sun: intervals,
})

function campaign (timezone: string, hours: WeeklyHours, holidays: string[] = []): CampaignContext {
  return { timezone, hours, holidays, switchboard: null }
}

/** A subtest, as tap passes it to a test callback. */
type Subtest = Parameters<Parameters<typeof t.test>[0]>[0]

function check (t: Subtest, c: CampaignContext, cases: Array<[string, boolean, string]>): void {
  for (const [at, open, why] of cases) t.equal(isOpen(c, new Date(at)), open, `${at}: ${why}`)
}

t.test('Europe/London across the spring change (2026-03-29, 01:00 UTC → 02:00 BST)', async (t) => {
  check(t, campaign('Europe/London', everyDay(nineToFive)), [
    ['2026-03-28T08:30:00Z', false, '08:30 GMT, before opening'],
    ['2026-03-28T09:00:00Z', true, '09:00 GMT, opening minute'],
    ['2026-03-29T08:30:00Z', true, '09:30 BST on the change day'],
    ['2026-03-29T07:59:00Z', false, '08:59 BST'],
    ['2026-03-29T16:00:00Z', false, '17:00 BST, the end is exclusive'],
    ['2026-03-29T15:59:00Z', true, '16:59 BST'],
  ])
})

t.test('Europe/London across the autumn change (2026-10-25, 01:00 UTC → 01:00 GMT)', async (t) => {
  check(t, campaign('Europe/London', everyDay(nineToFive)), [
    ['2026-10-24T08:30:00Z', true, '09:30 BST'],
    ['2026-10-25T08:30:00Z', false, '08:30 GMT'],
    ['2026-10-25T09:30:00Z', true, '09:30 GMT'],
  ])
  // The repeated hour 01:00-02:00 local is open both times it occurs.
  check(t, campaign('Europe/London', everyDay([['01:00', '02:00']])), [
    ['2026-10-25T00:30:00Z', true, '01:30 BST'],
    ['2026-10-25T01:30:00Z', true, '01:30 GMT'],
  ])
})

t.test('America/New_York, including its own spring change (2026-03-08)', async (t) => {
  check(t, campaign('America/New_York', everyDay(nineToFive)), [
    ['2026-03-06T13:30:00Z', false, '08:30 EST'],
    ['2026-03-06T14:30:00Z', true, '09:30 EST'],
    ['2026-03-09T13:30:00Z', true, '09:30 EDT'],
    ['2026-03-09T21:30:00Z', false, '17:30 EDT'],
    ['2026-06-02T03:00:00Z', false, '23:00 on Monday local, while it is already Tuesday in UTC'],
  ])
})

t.test('holidays are dates in the campaign timezone', async (t) => {
  const ny = campaign('America/New_York', { wed: [['20:00', '23:00']], thu: [['09:00', '23:00']] }, ['2026-12-24'])
  check(t, ny, [
    ['2026-12-24T03:00:00Z', true, 'Wednesday 23 December 22:00 local (24th in UTC) is not the holiday'],
    ['2026-12-24T18:30:00Z', false, 'Thursday 24 December 13:30 local is the holiday'],
    ['2026-12-25T02:00:00Z', false, 'Thursday 24 December 21:00 local (25th in UTC) is still the holiday'],
  ])
  check(t, campaign('Europe/London', everyDay(nineToFive), ['2026-12-25']), [
    ['2026-12-25T12:00:00Z', false, 'Christmas Day'],
    ['2026-12-24T12:00:00Z', true, 'Christmas Eve'],
  ])
})

t.test('overnight intervals belong to the day they start on', async (t) => {
  const fridayNight: WeeklyHours = { fri: [['22:00', '02:00']] }
  // 2026-07-03 is a Friday; London is on BST (UTC+1).
  check(t, campaign('Europe/London', fridayNight), [
    ['2026-07-03T20:59:00Z', false, 'Friday 21:59'],
    ['2026-07-03T21:00:00Z', true, 'Friday 22:00'],
    ['2026-07-03T23:30:00Z', true, 'Saturday 00:30, the tail'],
    ['2026-07-04T00:59:00Z', true, 'Saturday 01:59'],
    ['2026-07-04T01:00:00Z', false, 'Saturday 02:00, the end is exclusive'],
    ['2026-07-04T21:30:00Z', false, 'Saturday 22:30: Saturday has no hours'],
    ['2026-07-02T23:30:00Z', false, 'Friday 00:30: Thursday has no overnight interval'],
  ])
  check(t, campaign('Europe/London', fridayNight, ['2026-07-04']), [
    ['2026-07-03T23:30:00Z', true, 'a Saturday holiday does not cut Friday night short'],
  ])
  check(t, campaign('Europe/London', fridayNight, ['2026-07-03']), [
    ['2026-07-03T21:30:00Z', false, 'a Friday holiday cancels Friday night'],
    ['2026-07-03T23:30:00Z', false, '...including its tail'],
  ])
  check(t, campaign('UTC', { sun: [['23:00', '01:00']] }), [
    ['2026-07-06T00:30:00Z', true, "Monday 00:30 is Sunday night's tail across the week boundary"],
  ])
  check(t, campaign('UTC', { mon: [['22:00', '00:00']] }), [
    ['2026-07-06T23:00:00Z', true, 'an overnight interval ending at 00:00 runs to midnight'],
    ['2026-07-07T00:30:00Z', false, '...and has no tail'],
  ])
})

t.test('"24:00" ends at midnight; several intervals a day', async (t) => {
  check(t, campaign('UTC', { mon: [['18:00', '24:00']], tue: [['00:00', '24:00']] }), [
    ['2026-07-06T23:59:00Z', true, 'Monday 23:59'],
    ['2026-07-07T00:00:00Z', true, 'Tuesday 00:00, all day'],
    ['2026-07-08T00:00:00Z', false, 'Wednesday 00:00'],
  ])
  check(t, campaign('UTC', { mon: [['09:00', '12:00'], ['13:00', '17:00']] }), [
    ['2026-07-06T09:00:00Z', true, 'morning'],
    ['2026-07-06T12:00:00Z', false, 'lunch starts at the end of the morning'],
    ['2026-07-06T12:30:00Z', false, 'lunch'],
    ['2026-07-06T13:00:00Z', true, 'afternoon'],
  ])
})

t.test('intervals that would be refused on save are never open', async (t) => {
  const broken = { mon: [['09:00', '09:00'], ['25:00', '26:00'], ['24:00', '02:00'], ['9:00', '17:00']] } as WeeklyHours
  check(t, campaign('UTC', broken), [
    ['2026-07-06T09:30:00Z', false, 'empty, impossible and malformed intervals'],
    ['2026-07-07T01:00:00Z', false, '"24:00" is not a start'],
  ])
  t.notOk(isOpen(campaign('UTC', {}), new Date('2026-07-06T12:00:00Z')), 'no hours at all')
})

t.test('an unknown timezone is an error, and isValidTimeZone says so first', async (t) => {
  t.throws(() => isOpen(campaign('Mars/Olympus', everyDay(nineToFive)), new Date()), RangeError)
  t.ok(isValidTimeZone('Europe/London'))
  t.ok(isValidTimeZone('America/New_York'))
  t.notOk(isValidTimeZone('Mars/Olympus'))
  t.notOk(isValidTimeZone(''))
  t.notOk(isValidTimeZone(42))
  t.throws(() => isOpen(campaign('UTC', {}), new Date(Number.NaN)), RangeError, 'an invalid date')
})

t.test('validateHours', async (t) => {
  t.same(validateHours({ mon: [['09:00', '17:30']], fri: [['22:00', '02:00'], ['06:00', '24:00']], sun: [] }, '/hours'), [])
  t.same(validateHours(null, '/hours'), [
    { path: '/hours', message: 'hours must be an object keyed by day (mon, tue, wed, thu, fri, sat, sun)' },
  ])
  t.same(validateHours([], '/hours').length, 1)
  t.match(validateHours({ monday: [] }, '/hours'), [{ path: '/hours/monday', message: /unknown day "monday"/ }])
  t.match(validateHours({ mon: '09:00-17:00' }, '/hours'), [{ path: '/hours/mon', message: /list of/ }])
  t.match(validateHours({ mon: [['09:00']] }, '/hours'), [{ path: '/hours/mon/0', message: /pair/ }])
  t.match(validateHours({ mon: ['09:00'] }, '/hours'), [{ path: '/hours/mon/0', message: /pair/ }])
  t.match(validateHours({ tue: [['9:00', '17:00'], ['24:00', '02:00']] }, '/c/hours'), [
    { path: '/c/hours/tue/0/0', message: /start must be a time "HH:MM"/ },
    { path: '/c/hours/tue/1/0', message: /"24:00" is allowed only as an end/ },
  ])
  t.match(validateHours({ wed: [['09:00', '24:01'], ['10:00', 1000]] }, '/hours'), [
    { path: '/hours/wed/0/1', message: /end must be a time/ },
    { path: '/hours/wed/1/1', message: /end must be a time/ },
  ])
  t.match(validateHours({ thu: [['09:00', '09:00']] }, '/hours'), [{ path: '/hours/thu/0', message: /start and end are equal/ }])
  t.match(validateHours({ fri: [['09:60', '10:00']] }, '/hours'), [{ path: '/hours/fri/0/0' }])
})

t.test('validateHolidays', async (t) => {
  t.same(validateHolidays(['2026-12-25', '2028-02-29'], '/holidays'), [])
  t.same(validateHolidays('2026-12-25', '/holidays'), [{ path: '/holidays', message: 'holidays must be a list of "YYYY-MM-DD" dates' }])
  t.match(validateHolidays(['2026-02-30', '2026-13-01', 20261225, '25/12/2026', '2027-02-29'], '/holidays'), [
    { path: '/holidays/0' },
    { path: '/holidays/1' },
    { path: '/holidays/2' },
    { path: '/holidays/3' },
    { path: '/holidays/4' },
  ])
})
