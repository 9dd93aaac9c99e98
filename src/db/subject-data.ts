import { and, asc, eq, inArray, ne, sql } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { callAttempts, callEvents, calls, consents, dsrRequests, recordings, streamTokens, suppressions } from './schema.js'
import { deleteEventsOfCalls } from './webhooks.js'

/** Everything held about one number (by its keyed hash) in one tenant. */
export async function subjectData (db: Executor, tenantId: string, numberHash: string) {
  const callRows = await db.select().from(calls).where(and(eq(calls.tenantId, tenantId), eq(calls.remoteHash, numberHash))).orderBy(asc(calls.startedAt))
  const callIds = callRows.map((c) => c.id)
  const [events, consentRows, recordingRows, suppressionRows] = callIds.length === 0
    ? [[], [], [], await suppressionsOf(db, tenantId, numberHash)]
    : await Promise.all([
      db.select().from(callEvents).where(inArray(callEvents.callId, callIds)).orderBy(asc(callEvents.callId), asc(callEvents.seq)),
      db.select().from(consents).where(inArray(consents.callId, callIds)).orderBy(asc(consents.at)),
      db.select().from(recordings).where(inArray(recordings.callId, callIds)).orderBy(asc(recordings.createdAt)),
      suppressionsOf(db, tenantId, numberHash)
    ])
  return { calls: callRows, events, consents: consentRows, recordings: recordingRows, suppressions: suppressionRows }
}

function suppressionsOf (db: Executor, tenantId: string, numberHash: string) {
  return db.select().from(suppressions).where(and(eq(suppressions.tenantId, tenantId), eq(suppressions.numberHash, numberHash)))
}

/** Deletes calls (their events and consent evidence go with them) and the tokens of those calls. */
export async function eraseCalls (db: Executor, callIds: string[], callSids: string[]): Promise<void> {
  if (callIds.length === 0) return
  await db.delete(streamTokens).where(inArray(streamTokens.callSid, callSids))
  await deleteEventsOfCalls(db, callSids)
  await db.delete(calls).where(inArray(calls.id, callIds))
}

/** Earlier requests about the number stop naming it, except a restriction still in force; call attempts go. */
export async function forgetRequests (db: Executor, tenantId: string, numberHash: string, marker: string): Promise<void> {
  await db.delete(callAttempts).where(and(eq(callAttempts.tenantId, tenantId), eq(callAttempts.numberHash, numberHash)))
  await db.update(dsrRequests).set({ numberHash: marker })
    .where(and(eq(dsrRequests.tenantId, tenantId), eq(dsrRequests.numberHash, numberHash), ne(dsrRequests.status, 'active')))
}

export async function rectifyAttributes (db: Executor, callIds: string[], corrections: Record<string, string>): Promise<number> {
  if (callIds.length === 0) return 0
  const rows = await db.update(calls).set({ attributes: sql`${calls.attributes} || ${JSON.stringify(corrections)}::jsonb` })
    .where(inArray(calls.id, callIds)).returning({ id: calls.id })
  return rows.length
}

export async function insertDsr (db: Executor, row: typeof dsrRequests.$inferInsert) {
  const [created] = await db.insert(dsrRequests).values(row).returning()
  return created!
}

export async function updateDsr (db: Executor, id: string, patch: Partial<typeof dsrRequests.$inferInsert>) {
  const [row] = await db.update(dsrRequests).set(patch).where(eq(dsrRequests.id, id)).returning()
  return row!
}

export async function findDsr (db: Executor, id: string, tenantScope: string | null) {
  const rows = await db.select().from(dsrRequests).where(and(eq(dsrRequests.id, id), tenantScope === null ? undefined : eq(dsrRequests.tenantId, tenantScope)))
  return rows[0] ?? null
}
