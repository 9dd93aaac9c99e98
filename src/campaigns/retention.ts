import { audited } from '../audit/audited.js'
import type { Db } from '../db/client.js'
import { recomputeRetainUntil } from '../db/recordings.js'
import type { ObjectStore } from '../storage/object-store.js'

export interface RetentionRecomputeDeps { db: Db, store: Pick<ObjectStore, 'tagRetention'> }

/**
 * Applies a campaign's recordings window to the recordings it already keeps: their retainUntil,
 * then their objects' retention tags (the S3 lifecycle rule follows the tag, so without a re-tag
 * S3 would still expire by the old window), then the audit entry. The tags are S3 requests, one
 * per object, made outside any transaction.
 */
export async function recomputeRecordingRetention (deps: RetentionRecomputeDeps, campaign: { id: string, tenantId: string, retention: { recordingsDays: number } }, actor: string, at: Date): Promise<void> {
  const days = campaign.retention.recordingsDays
  const changed = await recomputeRetainUntil(deps.db, campaign.id, days)
  for (const rec of changed) {
    await deps.store.tagRetention(rec, days)
  }
  await audited(deps.db, { tenantId: campaign.tenantId, actor, action: 'campaign.retention-recompute', subject: `campaign:${campaign.id}`, details: { recordingsDays: days, recordings: changed.length }, at })
}
