// No transaction spans I/O to S3: a recording's upload is claimed with a lease, runs outside any
// transaction, and commits its outcome after; an erasure deletes rows in its transaction and
// objects after it commits, and a failure there is finished by the next sweep.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import t from 'tap'
import { commitUpload } from '../../src/db/recordings.js'
import { calls, objectDeletions, recordings } from '../../src/db/schema.js'
import { admin, bearer, signedTwilio } from '../helper.js'
import { NUMBER, newSid, recordCall, settle, setup, spooledRecording, streamCall } from '../media-helpers.js'
import { intercept, objectsUnder, s3Down } from '../storage-helpers.js'

const within = <T>(ms: number, work: Promise<T>): Promise<T | 'timed out'> =>
  Promise.race([work, new Promise<'timed out'>((resolve) => { setTimeout(() => resolve('timed out'), ms).unref() })])

t.test('a webhook step is answered while a recording upload is still in progress', async (t) => {
  const { app } = await setup(t)
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  let started!: () => void
  const uploading = new Promise<void>((resolve) => { started = resolve })
  let uploaded = false
  intercept(app, 'put', async (put, ...args) => {
    started()
    await gate
    await put(...args)
    uploaded = true
  })
  t.teardown(() => release())

  const { callSid, ws } = await streamCall(app, '+447700900401', 1)
  await uploading
  // On PGlite the database has one connection: an upload holding a transaction would hold it.
  const answer = await within(10_000, app.inject(signedTwilio('/twilio/voice', { CallSid: newSid(), From: '+447700900402', To: NUMBER })))
  t.not(answer, 'timed out', `answered before the upload finished (${app.database.kind})`)
  if (answer !== 'timed out') {
    t.equal(answer.statusCode, 200)
    t.match(answer.body, /<Response>/)
  }
  t.equal(uploaded, false, 'the upload was still waiting on S3')

  release()
  await settle(app)
  ws.terminate()
  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.callSid, callSid))
  t.equal(row!.status, 'stored', 'and then it was stored')
  t.equal(row!.uploadLeaseOwner, null, 'its lease given back')
})

t.test('an upload lease that ran out (its process died mid-upload) is taken over, and the object stored once', async (t) => {
  const { app, clock } = await setup(t)
  const s3Back = s3Down(app, 'put')
  const { row } = await spooledRecording(app, '+447700900403')
  s3Back()
  t.equal(row!.status, 'spooled', 'the first upload failed: kept in the spool')
  let puts = 0
  intercept(app, 'put', async (put, ...args) => { puts++; await put(...args) })

  // As another uploader that claimed it and died leaves the row.
  const dead = 'dead-host:1:0'
  await app.database.db.update(recordings).set({ uploadLeaseOwner: dead, uploadLeaseUntil: new Date(clock.now().getTime() + 60_000) }).where(eq(recordings.id, row!.id))
  t.equal(await app.recorder.retrySpooled(), 0, 'a running lease is left alone')
  t.equal(puts, 0, 'nothing uploaded meanwhile')
  t.ok(existsSync(join(app.spoolDir, `${row!.id}.enc`)), 'the spool file is kept')

  clock.advance(60_001)
  t.equal(await app.recorder.retrySpooled(), 1, 'past its time, the lease is taken over and the upload done')
  const [after] = await app.database.db.select().from(recordings).where(eq(recordings.id, row!.id))
  t.match(after, { status: 'stored', uploadLeaseOwner: null, uploadLeaseUntil: null })
  t.equal(await commitUpload(app.database.db, row!.id, dead, clock.now()), 'lost', 'the dead claimer could no longer commit')
  t.equal(await app.recorder.retrySpooled(), 0, 'nothing left to upload')
  t.equal(puts, 1, 'uploaded once')
  t.same(await objectsUnder(app, row!.key), [row!.key], 'one object')
  t.notOk(existsSync(join(app.spoolDir, `${row!.id}.enc`)), 'the spool file is gone')
})

t.test('a process restarted on its spool takes back at once the uploads its dead predecessor had claimed', async (t) => {
  const { app } = await setup(t)
  const s3Back = s3Down(app, 'put')
  const { row } = await spooledRecording(app, '+447700900404')
  s3Back()
  t.equal(row!.status, 'spooled')
  // What a process of this spool that was killed mid-upload leaves: its lease, still running for a
  // minute. The spool lock says that process is gone, so its restart need not wait the minute out.
  const spool = readFileSync(join(app.config.dataDir, 'upload-owner-id'), 'utf8')
  await app.database.db.update(recordings).set({ uploadLeaseOwner: `${spool}old-host:1:0`, uploadLeaseUntil: new Date(app.clock.now().getTime() + 60_000) }).where(eq(recordings.id, row!.id))
  t.equal(await app.recorder.retrySpooled(), 1, 'taken over and uploaded without waiting')
  const [after] = await app.database.db.select().from(recordings).where(eq(recordings.id, row!.id))
  t.equal(after!.status, 'stored')
  // Another spool's lease is another process's, perhaps alive: that one is waited out.
  const s3BackAgain = s3Down(app, 'put')
  const { row: second } = await spooledRecording(app, '+447700900405')
  s3BackAgain()
  t.equal(second!.status, 'spooled')
  await app.database.db.update(recordings).set({ uploadLeaseOwner: 'spool:another/host:2:0', uploadLeaseUntil: new Date(app.clock.now().getTime() + 60_000) }).where(eq(recordings.id, second!.id))
  t.equal(await app.recorder.retrySpooled(), 0, 'a lease of another spool is left alone')
})

t.test('an erasure whose object deletion failed leaves the rows gone, and the next sweep deletes the object', async (t) => {
  const { app, tenantId } = await setup(t)
  const controller = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json().apiKey)
  const { callSid, recordingId } = await recordCall(app, '+447700900404', 1)
  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.id, recordingId))
  t.equal(row!.status, 'stored')

  const s3Back = s3Down(app, 'deleteAllVersions')
  const erased = await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'erasure', number: '+447700900404' } })
  t.equal(erased.statusCode, 201, 'the erasure stands although S3 is down')
  t.match(erased.json().result, { recordingsDeleted: 1, callsDeleted: 1 })
  t.same(await app.database.db.select().from(recordings).where(eq(recordings.id, recordingId)), [], 'the recording row is gone')
  t.same(await app.database.db.select().from(calls).where(eq(calls.callSid, callSid)), [], 'the call row is gone')
  t.same(await objectsUnder(app, row!.key), [row!.key], 'the object could not be deleted yet')
  const queued = await app.database.db.select().from(objectDeletions)
  t.match(queued, [{ bucket: row!.bucket, key: row!.key, attempts: 1 }], 'its deletion is queued, the failure counted')

  t.match(await app.sweep(), { objectsDeleted: 0, objectDeletionsPending: 1 }, 'a sweep while S3 is still down deletes nothing')
  s3Back()
  t.match(await app.sweep(), { objectsDeleted: 1, objectDeletionsPending: 0 }, 'the next sweep finishes the erasure')
  t.same(await objectsUnder(app, row!.key), [], 'no object')
  t.same(await app.database.db.select().from(objectDeletions), [], 'nothing left queued')
})
