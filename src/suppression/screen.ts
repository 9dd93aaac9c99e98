import type { Db } from '../db/client.js'
import type { Executor } from '../db/executor.js'
import { screeningFacts } from '../db/suppressions.js'
import { normalizeNumber } from '../privacy/phone.js'
import { hashNumber } from '../privacy/number-hash.js'
import { CAPPED, REGISTRY, RESTRICTED, SUPPRESSED, verdict, type NotCallableReason } from './verdict.js'

export type { NotCallableReason } from './verdict.js'
export interface Screened { input: string, number: string | null, callable: boolean, reason?: NotCallableReason }

export interface ScreenCampaign { id: string, defaultCountry: string | null, callCap: { count: number, perDays: number } | null }

const DAY_MS = 86_400_000

/** Since when the campaign's attempts count against its cap; null when it has none. */
export function capWindow (campaign: ScreenCampaign, now: Date) {
  return campaign.callCap === null ? null : { campaignId: campaign.id, since: new Date(now.getTime() - campaign.callCap.perDays * DAY_MS), count: campaign.callCap.count }
}

/**
 * Whether each number may be dialled for this campaign, and if not why: invalid, or what
 * `verdict` makes of the lists. Asks the database about exactly these numbers, so it suits a
 * dial or a short list; a bulk CSV screening matches against a ScreeningSet instead.
 */
export async function screenNumbers (db: Db, hashKey: string, tenantId: string, campaign: ScreenCampaign, inputs: string[], now: Date): Promise<Screened[]> {
  const numbers = inputs.map((input) => normalizeNumber(input, campaign.defaultCountry))
  const hashes = numbers.map((n) => (n === null ? null : hashNumber(hashKey, n)))
  const reasons = await screenHashes(db, tenantId, campaign, hashes.filter((h): h is string => h !== null), now)
  return inputs.map((input, i) => {
    const number = numbers[i]!
    const hash = hashes[i]
    if (number === null || hash === null || hash === undefined) return { input, number, callable: false, reason: 'invalid' }
    const reason = reasons.get(hash)
    return reason === undefined ? { input, number, callable: true } : { input, number, callable: false, reason }
  })
}

/**
 * What the lists say about numbers already hashed (a campaign's contacts): hash → why it may not
 * be dialled, absent when it may. The same probe and `verdict` as screenNumbers.
 */
export async function screenHashes (db: Executor, tenantId: string, campaign: ScreenCampaign, hashes: string[], now: Date): Promise<Map<string, Exclude<NotCallableReason, 'invalid'>>> {
  const distinct = [...new Set(hashes)]
  const cap = capWindow(campaign, now)
  const facts = await screeningFacts(db, tenantId, distinct, cap)
  const reasons = new Map<string, Exclude<NotCallableReason, 'invalid'>>()
  for (const hash of distinct) {
    const sources = facts.sources.get(hash)
    let flags = facts.restricted.has(hash) ? RESTRICTED : 0
    if (sources !== undefined && [...sources].some((s) => s !== 'registry')) flags |= SUPPRESSED
    if (sources?.has('registry') === true) flags |= REGISTRY
    if (cap !== null && (facts.attempts.get(hash) ?? 0) >= cap.count) flags |= CAPPED
    const reason = verdict(flags)
    if (reason !== undefined) reasons.set(hash, reason)
  }
  return reasons
}
