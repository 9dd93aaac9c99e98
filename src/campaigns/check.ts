import { BadRequest } from '../errors.js'
import type { WeeklyHours, Retention } from './schema.js'

interface Checkable {
  timezone?: string
  hours?: WeeklyHours
  retention?: Retention
  lawfulBasis?: string
  lia?: { purpose: string, necessity: string, balancing: string } | null
}

/**
 * Rules the JSON schema cannot express. Runs on the merged campaign (after a PATCH too), so a
 * change cannot leave a campaign that would have been refused at creation.
 */
export function checkCampaign (campaign: Checkable): void {
  if (campaign.timezone !== undefined && !isTimeZone(campaign.timezone)) {
    throw new BadRequest(`body/timezone "${campaign.timezone}" is not an IANA time zone`)
  }
  for (const [day, intervals] of Object.entries(campaign.hours ?? {})) {
    intervals.forEach(([start, end], i) => {
      if (start === end) throw new BadRequest(`body/hours/${day}/${i} starts and ends at ${start}`)
      if (start === '24:00') throw new BadRequest(`body/hours/${day}/${i}/0 may not start at 24:00`)
    })
  }
  const r = campaign.retention
  if (r !== undefined && r.redactAfterDays > r.callLogDays) {
    throw new BadRequest('body/retention/redactAfterDays must not exceed retention/callLogDays')
  }
  if (campaign.lawfulBasis === 'legitimate_interest' && (campaign.lia === undefined || campaign.lia === null)) {
    throw new BadRequest('body/lia (purpose, necessity, balancing) is required when lawfulBasis is legitimate_interest')
  }
}

function isTimeZone (name: string): boolean {
  try {
    // Intl throws RangeError for a name it does not know; aliases such as "UTC" are accepted.
    return new Intl.DateTimeFormat('en-GB', { timeZone: name }).resolvedOptions().timeZone.length > 0
  } catch {
    return false
  }
}
