import type { Db } from '../db/client.js'
import { screeningFacts } from '../db/suppressions.js'
import { normalizeNumber } from '../privacy/phone.js'
import { hashNumber } from '../privacy/number-hash.js'

export type NotCallableReason = 'invalid' | 'restricted' | 'suppressed' | 'registry' | 'cap'
export interface Screened { input: string, number: string | null, callable: boolean, reason?: NotCallableReason }

export interface ScreenCampaign { id: string, defaultCountry: string | null, callCap: { count: number, perDays: number } | null }

const DAY_MS = 86_400_000

/**
 * Whether each number may be dialled for this campaign, and if not why. The first reason that
 * applies wins: invalid, restricted (a data-subject restriction), suppressed (an opt-out given to
 * this client: IVR, API or import), registry (a national do-not-call register), cap (too many
 * attempts in the campaign's window).
 */
export async function screenNumbers (db: Db, hashKey: string, tenantId: string, campaign: ScreenCampaign, inputs: string[], now: Date): Promise<Screened[]> {
  const numbers = inputs.map((input) => normalizeNumber(input, campaign.defaultCountry))
  const hashes = numbers.map((n) => (n === null ? null : hashNumber(hashKey, n)))
  const distinct = [...new Set(hashes.filter((h): h is string => h !== null))]
  const cap = campaign.callCap === null ? null : { campaignId: campaign.id, since: new Date(now.getTime() - campaign.callCap.perDays * DAY_MS) }
  const facts = await screeningFacts(db, tenantId, distinct, cap)
  return inputs.map((input, i) => {
    const number = numbers[i]!
    const hash = hashes[i]
    const result = (reason?: NotCallableReason): Screened => reason === undefined ? { input, number, callable: true } : { input, number, callable: false, reason }
    if (number === null || hash === null || hash === undefined) return result('invalid')
    if (facts.restricted.has(hash)) return result('restricted')
    const sources = facts.sources.get(hash)
    if (sources !== undefined && [...sources].some((s) => s !== 'registry')) return result('suppressed')
    if (sources?.has('registry') === true) return result('registry')
    if (campaign.callCap !== null && (facts.attempts.get(hash) ?? 0) >= campaign.callCap.count) return result('cap')
    return result()
  })
}
