import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, readFileSync, writeFileSync } from 'node:fs'
import { readdir, stat, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import type { TenantKeys } from '../crypto/tenant-keys.js'
import { appendCallEvent } from '../db/calls.js'
import type { Db } from '../db/client.js'
import { isRestricted } from '../db/dsr.js'
import { queueObjectDeletions } from '../db/object-deletions.js'
import {
  callForRecording, claimUpload, commitUpload, controlsSince, findRecording, insertRecording, releaseUpload, renewUpload, spendStreamToken, updateRecording
} from '../db/recordings.js'
import { emit } from '../events/emit.js'
import type { ObjectStore } from '../storage/object-store.js'
import { drainObjectDeletions } from '../storage/pending-deletions.js'
import { LiveRecording } from './live-recording.js'
import { findOrphans, recoverOrphan } from './recovery.js'

export interface RecorderDeps {
  db: Db
  store: ObjectStore
  keys: TenantKeys
  clock: Clock
  log: FastifyBaseLogger
  spoolDir: string
  sseKmsKeyId: string | null
  /** How long a claim on an upload lasts unless renewed (it is, every third of it, while the upload runs). Default 60 s. */
  uploadLeaseMs?: number
}

export interface OpenedRecording {
  live: LiveRecording
  tenantId: string
  callSid: string
  key: string
  retentionDays: number
  /** Wall-clock time of the stream's first sample. */
  startedAt: Date
  /** Ends the media stream from our side (an agent's stop). */
  close: () => void
}

const DAY_MS = 86_400_000
// Uploads run this many at a time per process; the rest wait with their spool files. Each holds
// up to three 5 MiB parts: 1,000 calls ending together must not mean 15 GB of part buffers.
const UPLOADS_AT_ONCE = 4
// Long enough that a renewal (every third of it) is never late; short enough that a process
// restarted after dying mid-upload takes its recordings back within a retry or two.
const UPLOAD_LEASE_MS = 60_000
// Plaintext format of every stored recording: raw interleaved µ-law, 8 kHz, caller left.
export const RECORDING_CONTENT_TYPE = 'audio/x-mulaw;rate=8000;channels=2'

export type Recorder = ReturnType<typeof createRecorder>

/** `spool:<uuid>/`: the id of the spool's DATA_DIR, made once and kept beside the spool. */
function spoolId (spoolDir: string): string {
  const file = join(dirname(spoolDir), 'upload-owner-id')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const id = `spool:${randomUUID()}/`
  writeFileSync(file, id, { mode: 0o600 })
  return id
}

export function createRecorder (deps: RecorderDeps) {
  const { db, store, clock, log } = deps
  const leaseMs = deps.uploadLeaseMs ?? UPLOAD_LEASE_MS
  // Names this recorder's upload leases: a lease is ours only while it carries this. It starts
  // with the spool's own id: a spool has one live process at a time (spool.lock), so a lease
  // held under this spool's id by another owner was left by a process that died on it, and its
  // restart takes the upload back at once instead of waiting out the lease.
  const spool = spoolId(deps.spoolDir)
  const leaseOwner = `${spool}${hostname()}:${process.pid}:${randomUUID()}`

  /** Admits a media stream only with an unused token issued for this call at consent. */
  const live = new Map<string, OpenedRecording>()
  let lastControl = 0
  /** Spool files left by a process that died, still to recover (kept here while recovery fails). */
  const orphans = new Set<string>()
  let retrying: Promise<number> | null = null
  let uploading = 0
  const waitingToUpload: Array<() => void> = []

  async function open (callSid: string, token: string, stream: { onPressure: (pause: boolean) => void, close: () => void }): Promise<OpenedRecording | null> {
    const now = clock.now()
    const tokenHash = createHash('sha256').update(token).digest('hex')
    if (!await spendStreamToken(db, tokenHash, callSid, now)) return null
    const call = await callForRecording(db, callSid)
    if (call === null) return null
    if (call.offboardingSince !== null) {
      log.warn({ callSid }, 'stream refused: the tenant is being offboarded')
      return null
    }
    if (await isRestricted(db, call.tenantId, call.remoteHash)) {
      log.warn({ callSid }, 'stream refused: the number is under a data-subject restriction')
      return null
    }
    const keyring = await deps.keys.forTenant(call.tenantId)
    const id = randomUUID()
    const key = `${call.tenantId}/${now.toISOString().slice(0, 10).replaceAll('-', '/')}/${id}.cgrec`
    const recording = new LiveRecording(id, deps.spoolDir, keyring.keyring, { tenantId: call.tenantId, callSid, recordingId: id }, stream.onPressure)
    await insertRecording(db, {
      id,
      tenantId: call.tenantId,
      callId: call.id,
      callSid,
      bucket: store.bucket,
      key,
      contentType: RECORDING_CONTENT_TYPE,
      channels: 2,
      keyId: keyring.keyId,
      keyMetadata: { format: 'aws-encryption-sdk', suite: 'ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY', frameLength: 4096, context: ['tenant', 'call', 'recording'] },
      status: 'recording',
      startedAt: now,
      createdAt: now
    })
    // Its two statements together: a process killed in between must not leave a gap in the call's event sequence.
    await db.transaction((tx) => appendCallEvent(tx, callSid, { node: null, input: null, outcome: 'recording-started' }, now))
    const opened = { live: recording, tenantId: call.tenantId, callSid, key, retentionDays: call.retention?.recordingsDays ?? 0, startedAt: now, close: stream.close }
    live.set(id, opened)
    return opened
  }

  /**
   * Applies agents' controls to the recordings streaming into this process. Polled, because
   * the request may have reached another instance; the recording's delay line makes the cut
   * land where it was asked for.
   */
  async function pollControls (): Promise<number> {
    const controls = await controlsSince(db, [...live.keys()], lastControl)
    for (const control of controls) {
      lastControl = Math.max(lastControl, control.id)
      const rec = live.get(control.recordingId)
      if (rec === undefined) continue
      const atMs = control.at.getTime() - rec.startedAt.getTime()
      if (control.action === 'pause') {
        if (rec.live.pause(atMs).late) log.warn({ callSid: rec.callSid, recordingId: control.recordingId }, 'pause reached the stream late; cut from the first audio not yet written')
      } else if (control.action === 'resume') {
        rec.live.resume(atMs)
      } else {
        rec.close()
      }
    }
    return controls.length
  }

  /** Stream over: complete the spool file, then upload it; a failed upload stays spooled for the retry loop. */
  async function finalize (rec: OpenedRecording): Promise<'stored' | 'spooled' | 'failed'> {
    live.delete(rec.live.id)
    let finished
    try {
      finished = await rec.live.finish()
    } catch (err) {
      log.error({ err, callSid: rec.callSid, recordingId: rec.live.id }, 'recording could not be completed')
      await rec.live.discard()
      await db.transaction(async (tx) => {
        await updateRecording(tx, rec.live.id, { status: 'failed' })
        await appendCallEvent(tx, rec.callSid, { node: null, input: null, outcome: 'recording-failed' }, clock.now())
      })
      return 'failed'
    }
    await db.transaction(async (tx) => {
      await updateRecording(tx, rec.live.id, { status: 'spooled', plainBytes: finished.plainBytes, sha256: finished.sha256, durationMs: finished.durationMs })
      if (rec.live.pausedMs > 0) await appendCallEvent(tx, rec.callSid, { node: null, input: String(rec.live.pausedMs), outcome: 'recording-paused-ms' }, clock.now())
    })
    log.info({ callSid: rec.callSid, recordingId: rec.live.id, ...finished.stats, durationMs: finished.durationMs }, 'recording complete; uploading')
    if (await uploadSpooled(rec.live.id)) return 'stored'
    await db.transaction((tx) => appendCallEvent(tx, rec.callSid, { node: null, input: null, outcome: 'recording-spooled' }, clock.now()))
    return 'spooled'
  }

  /**
   * Uploads one complete spool file. A lease on the row (claimed with SKIP LOCKED, renewed while
   * the upload runs) keeps two uploaders, in this process or another, from taking the same file;
   * no transaction is open during the transfer, so the database (PGlite's one connection above
   * all) goes on answering webhooks meanwhile.
   */
  async function uploadSpooled (id: string): Promise<boolean> {
    if (uploading >= UPLOADS_AT_ONCE) await new Promise<void>((resolve) => waitingToUpload.push(resolve))
    else uploading++
    try {
      return await uploadOne(id)
    } finally {
      // The slot passes straight to the next waiter, or is given back.
      const next = waitingToUpload.shift()
      if (next !== undefined) next()
      else uploading--
    }
  }

  async function uploadOne (id: string): Promise<boolean> {
    const file = join(deps.spoolDir, `${id}.enc`)
    const claimedAt = clock.now()
    const row = await claimUpload(db, id, { owner: leaseOwner, deadPredecessors: spool }, claimedAt, new Date(claimedAt.getTime() + leaseMs))
    if (row === null) {
      // Not claimable and gone: erased or offboarded. The file is personal data that may no
      // longer be uploaded or kept. (Still there: another uploader holds it, or not spooled.)
      if (await findRecording(db, id) === null) await discard(id)
      return false
    }
    const renewal = setInterval(() => {
      renewUpload(db, id, leaseOwner, new Date(clock.now().getTime() + leaseMs))
        .then((ours) => { if (!ours) log.warn({ recordingId: id }, 'upload lease lost while uploading') })
        .catch((err: unknown) => { log.warn({ err, recordingId: id }, 'could not renew an upload lease') })
    }, Math.max(1, Math.floor(leaseMs / 3)))
    renewal.unref()
    let size: number
    let days: number
    try {
      size = (await stat(file)).size
      days = (await callForRecording(db, row.callSid))?.retention?.recordingsDays ?? 0
      await store.put(row, createReadStream(file, { highWaterMark: 1024 * 1024 }), { retentionDays: days, sseKmsKeyId: deps.sseKmsKeyId })
    } catch (err) {
      log.error({ err, callSid: row.callSid, recordingId: id }, 'recording upload failed; kept in the spool for retry')
      await releaseUpload(db, id, leaseOwner).catch(() => {})
      return false
    } finally {
      clearInterval(renewal)
    }
    const now = clock.now()
    const outcome = await db.transaction(async (tx) => {
      const result = await commitUpload(tx, id, leaseOwner, new Date(now.getTime() + days * DAY_MS))
      if (result === 'stored') {
        await appendCallEvent(tx, row.callSid, { node: null, input: null, outcome: 'recording-stored' }, now)
        await emit(tx, { type: 'recording.stored', tenantId: row.tenantId, at: now, data: { recordingId: row.id, callSid: row.callSid, durationSeconds: row.durationMs === null ? null : Math.round(row.durationMs / 1000), sha256: row.sha256 } })
      }
      // Erased while it was uploading: the object just written must not outlive the row.
      if (result === 'gone') await queueObjectDeletions(tx, [row], 'erased while uploading', now)
      return result
    })
    if (outcome === 'lost') {
      // Another uploader took the lease over (ours ran out): it stores the same bytes under the same key.
      log.warn({ callSid: row.callSid, recordingId: id }, 'upload finished after its lease was taken over; left to the new holder')
      return false
    }
    if (outcome === 'gone') {
      await discard(id)
      await drainObjectDeletions({ db, store, log }).catch((err: unknown) => { log.warn({ err }, 'object deletion failed; the sweeper retries it') })
      log.info({ recordingId: id }, 'recording erased while uploading; its object deleted')
      return false
    }
    log.info({ callSid: row.callSid, recordingId: id, bytes: size }, 'recording stored')
    await unlink(file).catch(() => {})
    return true
  }

  async function discard (id: string): Promise<void> {
    try {
      await unlink(join(deps.spoolDir, `${id}.enc`))
      log.info({ recordingId: id }, 'spool file of an erased recording deleted')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }

  /**
   * After an erasure has committed: deletes the spool files of those recordings whose rows are
   * gone, at once rather than at the next upload retry (a row still there, kept or not yet
   * committed, keeps its file), then the objects the erasure queued. An object S3 would not
   * delete now stays queued for the sweeper (or the next erasure): the erasure itself stands.
   */
  async function discardErased (ids: string[]): Promise<void> {
    for (const id of ids) if (await findRecording(db, id) === null) await discard(id)
    try {
      await drainObjectDeletions({ db, store, log })
    } catch (err) {
      log.warn({ err }, 'objects of an erasure not yet deleted; the sweeper retries them')
    }
  }

  /**
   * Takes in the spool files a process that died left behind. Called once, before this process
   * takes any stream: after that, a `.part` is a live recording of this process.
   */
  async function adoptOrphans (): Promise<number> {
    for (const id of await findOrphans(deps)) orphans.add(id)
    return orphans.size
  }

  /**
   * Recovers orphaned spool files, then uploads every complete one (at start-up and from the
   * retry loop). Returns how many were stored. Runs one at a time: two runs would write the
   * same recovered file.
   */
  function retrySpooled (): Promise<number> {
    retrying ??= recoverAndUpload().finally(() => { retrying = null })
    return retrying
  }

  async function recoverAndUpload (): Promise<number> {
    for (const id of [...orphans]) {
      try {
        await recoverOrphan(deps, id)
        orphans.delete(id)
      } catch (err) {
        log.error({ err, recordingId: id }, 'spool recovery failed; kept for the next retry')
      }
    }
    let names: string[]
    try {
      names = await readdir(deps.spoolDir)
    } catch {
      return 0
    }
    let stored = 0
    for (const name of names.filter((n) => n.endsWith('.enc'))) {
      if (await uploadSpooled(basename(name, '.enc'))) stored++
    }
    return stored
  }

  return { open, finalize, adoptOrphans, retrySpooled, discardErased, pollControls, liveCount: () => live.size }
}
