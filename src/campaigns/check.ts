import { BadRequest } from '../errors.js'
import { isValidTimeZone, validateHolidays, validateHours, type Problem } from '../flows/index.js'
import type { WeeklyHours, Retention } from './schema.js'

interface Checkable {
  timezone?: string
  hours?: WeeklyHours
  holidays?: string[]
  retention?: Retention
  lawfulBasis?: string
  lia?: { purpose: string, necessity: string, balancing: string } | null
}

/**
 * Rules the JSON schema cannot express. Runs on the merged campaign (after a PATCH too), so a
 * change cannot leave a campaign that would have been refused at creation. Hours and holidays
 * are checked by the same code the flow engine reads them with.
 */
export function checkCampaign (campaign: Checkable): void {
  if (campaign.timezone !== undefined && !isValidTimeZone(campaign.timezone)) {
    throw new BadRequest(`body/timezone "${campaign.timezone}" is not an IANA time zone`)
  }
  const problems: Problem[] = [
    ...(campaign.hours !== undefined ? validateHours(campaign.hours, 'body/hours') : []),
    ...(campaign.holidays !== undefined ? validateHolidays(campaign.holidays, 'body/holidays') : [])
  ]
  if (problems.length > 0) throw new BadRequest(problems.map((p) => `${p.path}: ${p.message}`).join('; '))
  const r = campaign.retention
  if (r !== undefined && r.redactAfterDays > r.callLogDays) {
    throw new BadRequest('body/retention/redactAfterDays must not exceed retention/callLogDays')
  }
  if (campaign.lawfulBasis === 'legitimate_interest' && (campaign.lia === undefined || campaign.lia === null)) {
    throw new BadRequest('body/lia (purpose, necessity, balancing) is required when lawfulBasis is legitimate_interest')
  }
}
