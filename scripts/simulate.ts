// Try a flow without a phone:
//   npm run simulate -- --flow flow.json [--campaign campaign.json] [--at 2026-12-24T18:30:00Z]
//                       [--digits 1,9] [--dial-status completed,no-answer]
// Digits and dial statuses are comma-separated, one per prompt or dial; an empty entry
// ("1,,2") is silence. Without --campaign the call runs in an always-open UTC campaign.
// A test fixture ({ "expect": …, "flow": … }) may be given as the flow file.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Value } from 'typebox/value'
import {
  CampaignContextSchema,
  alwaysOpenCampaign,
  checkAgainstCampaign,
  formatTranscript,
  isValidTimeZone,
  simulate,
  validateFlow,
  validateHolidays,
  validateHours,
  type CampaignContext,
  type FlowDefinition,
  type Problem,
} from '../src/flows/index.js'

function printProblems (title: string, problems: Problem[]): void {
  console.log(title)
  for (const { path, message } of problems) console.log(`  ${path || '(root)'}: ${message}`)
}

function readJson (file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8')) as unknown
}

/** Keeps the fields the engine reads, so a whole campaign as the API returns it works too. */
function readCampaign (file: string | undefined): CampaignContext | Problem[] {
  if (file === undefined) return alwaysOpenCampaign()
  const raw = readJson(file) as Record<string, unknown> | null
  const campaign = {
    timezone: raw?.timezone,
    hours: raw?.hours ?? {},
    holidays: raw?.holidays ?? [],
    switchboard: raw?.switchboard ?? null,
  }
  const problems = [
    ...(isValidTimeZone(campaign.timezone) ? [] : [{ path: '/timezone', message: 'not a known IANA timezone' }]),
    ...validateHours(campaign.hours, '/hours'),
    ...validateHolidays(campaign.holidays, '/holidays'),
  ]
  if (problems.length === 0 && !Value.Check(CampaignContextSchema, campaign)) {
    problems.push({ path: '/switchboard', message: 'switchboard must be a string or null' })
  }
  return problems.length > 0 ? problems : (campaign as CampaignContext)
}

function list (value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((item) => item.trim())
}

function main (): number {
  const { values } = parseArgs({
    options: {
      flow: { type: 'string' },
      campaign: { type: 'string' },
      at: { type: 'string' },
      digits: { type: 'string' },
      'dial-status': { type: 'string' },
    },
  })
  if (values.flow === undefined) {
    console.error('usage: npm run simulate -- --flow flow.json [--campaign c.json] [--at ISO-time] [--digits 1,9] [--dial-status completed]')
    return 2
  }
  const now = values.at === undefined ? new Date() : new Date(values.at)
  if (Number.isNaN(now.getTime())) {
    console.error(`--at: not a date: ${values.at}`)
    return 2
  }
  const file = readJson(values.flow)
  const isFixture = typeof file === 'object' && file !== null && 'flow' in file && 'expect' in file
  const def = isFixture ? file.flow : file
  const problems = validateFlow(def)
  if (problems.length > 0) {
    printProblems(`${values.flow}: ${problems.length} problem(s)`, problems)
    return 1
  }
  const campaign = readCampaign(values.campaign)
  if (Array.isArray(campaign)) {
    printProblems(`${values.campaign}: campaign problem(s)`, campaign)
    return 1
  }
  const flow = def as FlowDefinition
  const publish = checkAgainstCampaign(flow, campaign)
  if (publish.length > 0) printProblems('publishing against this campaign would fail (simulating anyway):', publish)
  console.log(`flow is valid; simulating at ${now.toISOString()} (${campaign.timezone})\n`)
  const transcript = simulate(flow, {
    campaign,
    now,
    digits: list(values.digits),
    dialStatuses: list(values['dial-status']),
  })
  console.log(formatTranscript(transcript))
  return 0
}

try {
  process.exitCode = main()
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err))
  process.exitCode = 2
}
