import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import t from 'tap'
import { recordings } from '../../src/db/schema.js'
import { admin, bearer } from '../helper.js'
import { settle, setup, spooledRecording, streamCall } from '../media-helpers.js'
import { intercept, objectsUnder, s3Down } from '../storage-helpers.js'

/** Makes every upload fail (S3 refusing PutObject) until the returned function is called. */
function failUploads (app: Awaited<ReturnType<typeof setup>>['app']): () => void {
  return s3Down(app, 'put')
}

t.test('an erasure while the recording is being uploaded leaves no object, no row and no spool file', async (t) => {
  const { app, tenantId } = await setup(t)
  const controller = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json().apiKey)
  let uploading: () => void
  const started = new Promise<void>((resolve) => { uploading = resolve })
  intercept(app, 'put', async (put, ...args) => {
    uploading(); await new Promise((resolve) => setTimeout(resolve, 1500))
    await put(...args)
  })

  const { callSid, ws } = await streamCall(app, '+447700900321', 1)
  await started
  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.callSid, callSid))
  const erased = await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'erasure', number: '+447700900321' } })
  t.equal(erased.statusCode, 201)
  t.match(erased.json().result, { recordingsDeleted: 1, recordingsInProgress: [] })
  await settle(app)
  ws.terminate()

  t.same(await app.database.db.select().from(recordings).where(eq(recordings.id, row!.id)), [], 'no row')
  t.same(await objectsUnder(app, row!.key), [], 'no object: the upload that finished during the erasure was deleted too')
  t.notOk(existsSync(join(app.spoolDir, `${row!.id}.enc`)), 'no spool file')
})

t.test('an erasure of a recording still waiting in the spool deletes the file at once; a retry uploads nothing', async (t) => {
  const { app, tenantId } = await setup(t)
  const controller = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json().apiKey)
  const s3Back = failUploads(app)
  const { row, file } = await spooledRecording(app, '+447700900322')
  t.equal(row.status, 'spooled', 'the upload failed: kept in the spool')
  t.ok(existsSync(file))

  t.equal((await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'erasure', number: '+447700900322' } })).statusCode, 201)
  t.notOk(existsSync(file), 'the spool file is deleted with the erasure')
  s3Back()
  t.equal(await app.recorder.retrySpooled(), 0, 'nothing left to upload')
  t.same(await objectsUnder(app, row.key), [], 'nothing in the bucket')
})

t.test('a spool file whose recording is gone is deleted by the upload retry', async (t) => {
  const { app } = await setup(t)
  const s3Back = failUploads(app)
  const { row, file } = await spooledRecording(app, '+447700900323')
  t.ok(existsSync(file))
  // As an erasure in another process (whose own spool this is not) leaves it.
  await app.database.db.delete(recordings).where(eq(recordings.id, row.id))
  s3Back()
  t.equal(await app.recorder.retrySpooled(), 0)
  t.notOk(existsSync(file), 'deleted, not uploaded')
  t.same(await objectsUnder(app, row.key), [])
})
