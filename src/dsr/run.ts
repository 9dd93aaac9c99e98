import { deleteContactsOf } from '../db/contacts.js'
import type { Clock } from '../clock.js'
import type { Db } from '../db/client.js'
import type { Tx } from '../db/executor.js'
import { queueObjectDeletions } from '../db/object-deletions.js'
import { deleteRecordingRow } from '../db/recordings.js'
import { eraseCalls, forgetRequests, rectifyAttributes, subjectData } from '../db/subject-data.js'
import type { Emitted } from '../events/catalogue.js'
import { emit } from '../events/emit.js'
import { DEFAULT_LINK_SECONDS } from '../recording/link-token.js'
import { issueLink } from '../recording/links.js'
import type { ObjectStore } from '../storage/object-store.js'
import { toCsv } from './csv.js'

export interface DsrDeps {
  db: Db
  store: ObjectStore
  clock: Clock
  publicUrl: string
  linkSecret: string
}

type Subject = Awaited<ReturnType<typeof subjectData>>

/** A portable export of everything held about the number: JSON, and CSV per table. */
export async function accessExport (deps: DsrDeps, tx: Tx, number: string, data: Subject, actor: string) {
  const now = deps.clock.now()
  const expiresAt = new Date(now.getTime() + DEFAULT_LINK_SECONDS * 1000)
  // Each link is a row (revocable, its issuer re-checked at every fetch), issued in the request's transaction.
  const tokens = new Map<string, string>()
  for (const r of data.recordings) {
    if (r.status === 'stored' && r.deletedAt === null) tokens.set(r.id, (await issueLink(tx, deps.linkSecret, { recordingId: r.id, issuedBy: actor, expiresAt }, now)).token)
  }
  const sidOf = new Map(data.calls.map((c) => [c.id, c.callSid]))
  const calls = data.calls.map((c) => ({
    callSid: c.callSid,
    direction: c.direction,
    status: c.status,
    startedAt: c.startedAt.toISOString(),
    endedAt: c.endedAt?.toISOString() ?? null,
    durationSeconds: c.durationSeconds,
    ourNumber: c.localNumber,
    callerNumberStored: c.remoteNumber !== null,
    attributes: c.attributes,
    campaignId: c.campaignId
  }))
  const events = data.events.map((e) => ({ callSid: sidOf.get(e.callId) ?? null, seq: e.seq, node: e.node, input: e.input, outcome: e.outcome, at: e.at.toISOString() }))
  const consents = data.consents.map((c) => ({ callSid: c.callSid, decision: c.decision, granted: c.granted, method: c.method, prompt: c.prompt, digits: c.digits, node: c.node, flowId: c.flowId, flowVersion: c.flowVersion, attestedBy: c.attestedBy, at: c.at.toISOString() }))
  const recordings = data.recordings.map((r) => ({
    id: r.id,
    callSid: r.callSid,
    status: r.status,
    durationMs: r.durationMs,
    createdAt: r.createdAt.toISOString(),
    retainUntil: r.retainUntil?.toISOString() ?? null,
    legalHold: r.legalHold,
    truncated: r.truncated,
    link: tokens.has(r.id) ? `${deps.publicUrl}/recordings/${r.id}?token=${tokens.get(r.id)!}` : null,
    linkExpiresAt: r.status === 'stored' && r.deletedAt === null ? expiresAt.toISOString() : null
  }))
  const suppression = {
    suppressed: data.suppressions.length > 0,
    since: data.suppressions.map((s) => s.createdAt).sort((a, b) => a.getTime() - b.getTime())[0]?.toISOString() ?? null,
    sources: data.suppressions.map((s) => s.source)
  }
  return {
    json: { number, generatedAt: now.toISOString(), calls, events, consents, recordings, suppression },
    csv: { calls: toCsv(calls), events: toCsv(events), consents: toCsv(consents), recordings: toCsv(recordings) }
  }
}

/**
 * Erases what is held about the number: recordings (rows now, every object version once `tx`
 * commits), calls, their events and consent evidence. Kept: a suppression (the objection must go
 * on being honoured), a restriction in force, and recordings under legal hold (reported, with
 * their calls). No S3 request is made here: the objects are queued in `tx`, and deleted after it
 * commits (recorder.discardErased, then the sweeper for whatever S3 did not take).
 */
export async function erase (deps: DsrDeps, tx: Tx, tenantId: string, numberHash: string, data: Subject) {
  const held = data.recordings.filter((r) => r.legalHold && r.deletedAt === null)
  const live = data.recordings.filter((r) => r.status === 'recording')
  const keepCalls = new Set([...held, ...live].map((r) => r.callId))
  const objects: Array<{ bucket: string, key: string }> = []
  for (const rec of data.recordings) {
    if (keepCalls.has(rec.callId)) continue
    await deleteRecordingRow(tx, rec.id)
    // A spooled recording may be uploading right now (its lease holds no lock): its object is
    // queued too, and the upload, finding its row gone when it commits, deletes what it wrote.
    if (rec.deletedAt === null) objects.push({ bucket: rec.bucket, key: rec.key })
  }
  const now = deps.clock.now()
  await queueObjectDeletions(tx, objects, 'erasure', now)
  const erased = data.calls.filter((c) => !keepCalls.has(c.id))
  await eraseCalls(tx, erased.map((c) => c.id), erased.map((c) => c.callSid))
  await forgetRequests(tx, tenantId, numberHash, 'erased')
  // Off every campaign's contact list too: the dialler must not call, nor hold, the person.
  const contactsDeleted = await deleteContactsOf(tx, tenantId, [numberHash])
  const erasedIds = new Set(erased.map((c) => c.id))
  await emit(tx, ...data.recordings.filter((r) => !keepCalls.has(r.callId) && r.deletedAt === null)
    .map((r): Emitted => ({ type: 'recording.deleted', tenantId, at: now, data: { recordingId: r.id, reason: 'erasure' } })))
  return {
    callsDeleted: erased.length,
    eventsDeleted: data.events.filter((e) => erasedIds.has(e.callId)).length,
    consentsDeleted: data.consents.filter((c) => erasedIds.has(c.callId)).length,
    recordingsDeleted: data.recordings.length - data.recordings.filter((r) => keepCalls.has(r.callId)).length,
    objectsQueuedForDeletion: objects.length,
    contactsDeleted,
    recordingsHeld: held.map((r) => r.id),
    recordingsInProgress: live.map((r) => r.id),
    suppressionKept: data.suppressions.length > 0
  }
}

export async function rectify (tx: Tx, data: Subject, corrections: Record<string, string>) {
  return { callsUpdated: await rectifyAttributes(tx, data.calls.map((c) => c.id), corrections), fields: Object.keys(corrections).sort() }
}
