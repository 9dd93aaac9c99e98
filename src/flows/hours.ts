// Business hours in the campaign's own timezone. Everything is computed on the wall clock that
// Intl.DateTimeFormat reports for the zone, so daylight-saving changes need no special cases:
// 09:00 means 09:00 on the clocks in the office, whatever the UTC offset is that day.
//
// Conventions (also in DESIGN.md's campaign contract):
// - an interval is [start, end) in "HH:MM"; "24:00" is allowed as an end only;
// - an end before its start runs overnight into the next day;
// - an overnight interval belongs to the day it starts on: a holiday on that day cancels the
//   whole interval, and a holiday on the next day does NOT cut its tail (a Friday 22:00–02:00
//   shift still runs until 02:00 on a Saturday holiday);
// - on the autumn change the repeated wall-clock hour is open or closed both times, and an
//   interval inside the skipped spring hour never happens.
import { WEEKDAYS, type CampaignContext, type WeeklyHours } from './definition.js'
import { pointer, type Problem } from './problem.js'

const MINUTES_PER_DAY = 24 * 60
const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

interface WallClock {
  /** "YYYY-MM-DD" */
  date: string;
  /** 0 = Sunday */
  weekday: number;
  /** minutes since local midnight */
  minutes: number;
}

/** Minutes since midnight for "HH:MM", or null; "24:00" only when `asEnd`. */
function parseTime (value: unknown, asEnd: boolean): number | null {
  if (typeof value !== 'string') return null
  if (value === '24:00') return asEnd ? MINUTES_PER_DAY : null
  const match = TIME.exec(value)
  if (!match) return null
  return Number(match[1]) * 60 + Number(match[2])
}

/** Days since 1970-01-01 for a real calendar date "YYYY-MM-DD", or null. */
function dayNumber (date: string): number | null {
  const match = DATE.exec(date)
  if (!match) return null
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const ms = Date.UTC(year, month - 1, day)
  const back = new Date(ms)
  // Date.UTC rolls 2026-02-30 over to March; a real date survives the round trip.
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) {
    return null
  }
  return ms / 86_400_000
}

function dateOfDayNumber (days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10)
}

// Building an Intl.DateTimeFormat costs far more than formatting with one (it loads the zone's
// rules), and a formatter is immutable: one per zone is kept. This holds no state of the engine's.
const formatters = new Map<string, Intl.DateTimeFormat>()

function formatterFor (timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
    // Zone names come from campaigns (validated, a few hundred exist): bounded all the same.
    if (formatters.size >= 1000) formatters.clear()
    formatters.set(timeZone, format)
  }
  return format
}

function wallClock (now: Date, timeZone: string): WallClock {
  const parts = formatterFor(timeZone).formatToParts(now)
  const part = (type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value)
  const date = [
    String(part('year')).padStart(4, '0'),
    String(part('month')).padStart(2, '0'),
    String(part('day')).padStart(2, '0'),
  ].join('-')
  const days = dayNumber(date)
  if (days === null) throw new RangeError(`cannot read the date in ${timeZone}`)
  // Day 0 (1970-01-01) was a Thursday.
  const weekday = (((days + 4) % 7) + 7) % 7
  return { date, weekday, minutes: (part('hour') % 24) * 60 + part('minute') }
}

interface Interval {
  start: number;
  end: number;
}

function intervalsOn (hours: WeeklyHours, weekday: number): Interval[] {
  const day = WEEKDAYS[weekday]
  const list = day === undefined ? undefined : hours[day]
  const result: Interval[] = []
  for (const pair of list ?? []) {
    const start = parseTime(pair[0], false)
    const end = parseTime(pair[1], true)
    // Invalid or empty intervals are rejected when the campaign is saved; never open here.
    if (start !== null && end !== null && start !== end) result.push({ start, end })
  }
  return result
}

/** Whether `now` falls in the campaign's opening hours. Throws RangeError for an unknown zone. */
export function isOpen (campaign: CampaignContext, now: Date): boolean {
  const here = wallClock(now, campaign.timezone)
  const holidays = new Set(campaign.holidays)
  if (!holidays.has(here.date)) {
    for (const { start, end } of intervalsOn(campaign.hours, here.weekday)) {
      const overnight = end < start
      if (overnight ? here.minutes >= start : here.minutes >= start && here.minutes < end) return true
    }
  }
  const today = dayNumber(here.date) as number
  const yesterday = dateOfDayNumber(today - 1)
  if (!holidays.has(yesterday)) {
    for (const { start, end } of intervalsOn(campaign.hours, (here.weekday + 6) % 7)) {
      if (end < start && here.minutes < end) return true
    }
  }
  return false
}

/**
 * The first moment from `from` on (itself, if open) at which the campaign is open, looking at
 * most `withinDays` ahead; null if it does not open in that time. Opening hours are whole
 * minutes of local time, so the minutes are tried in turn.
 */
export function nextOpening (campaign: CampaignContext, from: Date, withinDays = 8): Date | null {
  if (isOpen(campaign, from)) return from
  const minute = 60_000
  const start = Math.ceil(from.getTime() / minute) * minute
  for (let t = start; t <= from.getTime() + withinDays * 86_400_000; t += minute) {
    const at = new Date(t)
    if (isOpen(campaign, at)) return at
  }
  return null
}

/** Whether the runtime knows this IANA timezone. */
export function isValidTimeZone (timeZone: unknown): boolean {
  if (typeof timeZone !== 'string' || timeZone === '') return false
  try {
    // The constructor is the check: it throws a RangeError for a zone the runtime does not know.
    return new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone !== ''
  } catch {
    return false
  }
}

/** Problems with a campaign's weekly hours; `path` is the JSON pointer of the hours object. */
export function validateHours (hours: unknown, path: string): Problem[] {
  if (typeof hours !== 'object' || hours === null || Array.isArray(hours)) {
    return [{ path, message: 'hours must be an object keyed by day (mon, tue, wed, thu, fri, sat, sun)' }]
  }
  const problems: Problem[] = []
  for (const [day, list] of Object.entries(hours)) {
    const dayPath = path + pointer(day)
    if (!(WEEKDAYS as readonly string[]).includes(day)) {
      problems.push({ path: dayPath, message: `unknown day "${day}": use mon, tue, wed, thu, fri, sat or sun` })
      continue
    }
    if (!Array.isArray(list)) {
      problems.push({ path: dayPath, message: 'a day must be a list of ["HH:MM", "HH:MM"] intervals' })
      continue
    }
    list.forEach((pair: unknown, index) => problems.push(...intervalProblems(pair, dayPath + pointer(index))))
  }
  return problems
}

function intervalProblems (pair: unknown, path: string): Problem[] {
  if (!Array.isArray(pair) || pair.length !== 2) {
    return [{ path, message: 'an interval must be a pair ["HH:MM", "HH:MM"]' }]
  }
  const start = parseTime(pair[0], false)
  const end = parseTime(pair[1], true)
  const problems: Problem[] = []
  if (start === null) {
    const message =
      pair[0] === '24:00'
        ? '"24:00" is allowed only as an end'
        : 'start must be a time "HH:MM" from 00:00 to 23:59'
    problems.push({ path: path + pointer(0), message })
  }
  if (end === null) {
    problems.push({ path: path + pointer(1), message: 'end must be a time "HH:MM" from 00:00 to 24:00' })
  }
  if (start !== null && end !== null && start === end) {
    problems.push({ path, message: 'start and end are equal, so the interval is empty (use ["00:00", "24:00"] for all day)' })
  }
  return problems
}

/** Problems with a campaign's holiday list ("YYYY-MM-DD", real calendar dates). */
export function validateHolidays (holidays: unknown, path: string): Problem[] {
  if (!Array.isArray(holidays)) return [{ path, message: 'holidays must be a list of "YYYY-MM-DD" dates' }]
  const problems: Problem[] = []
  holidays.forEach((date: unknown, index) => {
    if (typeof date !== 'string' || dayNumber(date) === null) {
      problems.push({ path: path + pointer(index), message: 'a holiday must be a real date "YYYY-MM-DD"' })
    }
  })
  return problems
}
