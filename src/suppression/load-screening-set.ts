import type { Executor } from '../db/executor.js'
import { listedPage, type ListedKind } from '../db/suppressions.js'
import { concat, keyList, merge, type KeyList, type ScreeningSet } from './screening-set.js'

/** A snapshot of the lists as they stand when the screening starts, read a sixteenth at a time. */
export async function loadScreeningSet (db: Executor, tenantId: string, cap: { campaignId: string, since: Date, count: number } | null): Promise<ScreeningSet> {
  const kinds: ListedKind[] = cap === null ? ['suppressions', 'restrictions'] : ['suppressions', 'restrictions', 'capped']
  const lists: KeyList[] = []
  for (const kind of kinds) {
    const pages: KeyList[] = []
    for (let digit = 0; digit < 16; digit++) {
      // Sixteenths are disjoint and in order: each sorted on its own, the list is sorted.
      const page = await listedPage(db, kind, { tenantId, cap }, digit)
      pages.push(keyList(page.keys, page.bits))
    }
    lists.push(concat(pages))
  }
  return merge(lists)
}
