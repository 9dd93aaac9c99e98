import type { Campaign } from './schema.js'
import { dueContactPage } from '../db/contacts.js'
import type { Executor } from '../db/executor.js'
import { isOpen, nextOpening } from '../flows/index.js'
import { screenHashes } from '../suppression/screen.js'

export interface Preview {
  /** Contacts the dialler still has to call now: pending, or scheduled and due. */
  contacts: number
  callableNow: number
  skipped: { suppressed: number, registry: number, restricted: number, cap: number, outsideWindow: number }
  /** The first moment, now or later, at which a due contact's calling window is open; null if none opens in the next 8 days (or the campaign has ended). */
  windowOpensAt: string | null
}

const PAGE = 1000

/**
 * What the dialler would do if it ran through the list now, without dialling: each due contact
 * screened as it would be just before its call (the same probe and verdict as a dial), then held
 * against the calling window (the campaign's hours and holidays, in the contact's time zone when
 * it has one, and its end date). Read a page of contacts at a time.
 */
export async function previewCampaign (db: Executor, campaign: Campaign, now: Date): Promise<Preview> {
  const preview: Preview = { contacts: 0, callableNow: 0, skipped: { suppressed: 0, registry: 0, restricted: 0, cap: 0, outsideWindow: 0 }, windowOpensAt: null }
  const ended = campaign.endsAt !== null && now >= new Date(campaign.endsAt)
  const zones = new Set<string>()
  const openIn = new Map<string, boolean>()
  const open = (timezone: string) => {
    let known = openIn.get(timezone)
    if (known === undefined) openIn.set(timezone, known = isOpen({ ...campaign, timezone }, now))
    return known
  }
  let after: string | undefined
  for (;;) {
    const page = await dueContactPage(db, campaign.id, now, { ...(after !== undefined ? { after } : {}), limit: PAGE })
    if (page.length === 0) break
    const reasons = await screenHashes(db, campaign.tenantId, campaign, page.map((c) => c.numberHash), now)
    for (const contact of page) {
      preview.contacts++
      const reason = reasons.get(contact.numberHash)
      if (reason !== undefined) { preview.skipped[reason]++; continue }
      const timezone = contact.timezone ?? campaign.timezone
      zones.add(timezone)
      if (ended || !open(timezone)) preview.skipped.outsideWindow++
      else preview.callableNow++
    }
    if (page.length < PAGE) break
    after = page[page.length - 1]!.id
  }
  if (!ended) {
    const end = campaign.endsAt === null ? null : new Date(campaign.endsAt)
    const opening = [...zones].map((timezone) => nextOpening({ ...campaign, timezone }, now)).filter((d): d is Date => d !== null && (end === null || d < end))
    if (opening.length > 0) preview.windowOpensAt = new Date(Math.min(...opening.map((d) => d.getTime()))).toISOString()
  }
  return preview
}
