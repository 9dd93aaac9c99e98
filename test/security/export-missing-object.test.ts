// Issue 17 finding 11: one recording object missing from the bucket no longer aborts the tenant
// export, and so offboarding: it is listed under recordingsNotExported and the rest goes on.
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { DeleteObjectCommand } from '@aws-sdk/client-s3'
import { eq } from 'drizzle-orm'
import { extract } from 'tar-stream'
import t from 'tap'
import { calls, recordings, tenants } from '../../src/db/schema.js'
import { admin, bearer } from '../helper.js'
import { recordCall, setup, wav } from '../media-helpers.js'
import { s3Of } from '../storage-helpers.js'

async function untar (archive: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>()
  const reader = extract()
  reader.on('entry', (header, stream, next) => {
    buffer(stream).then((body) => { files.set(header.name, body); next() }, next)
  })
  Readable.from([archive]).pipe(reader as unknown as NodeJS.WritableStream)
  await new Promise<void>((resolve, reject) => { reader.on('finish', () => resolve()); reader.on('error', reject) })
  return files
}

t.test('a recording whose object is gone from the bucket is listed, and the export and offboarding go on', async (t) => {
  const { app, tenantId, clock } = await setup(t)
  const { db } = app.database
  const kept = await recordCall(app, '+447700900501', 1)
  const lost = await recordCall(app, '+447700900502', 1)
  const [row] = await db.select().from(recordings).where(eq(recordings.id, lost.recordingId))
  t.equal(row!.status, 'stored')
  // Deleted behind callgate's back (a bucket lifecycle rule, someone with bucket access).
  await s3Of(app).send(new DeleteObjectCommand({ Bucket: row!.bucket, Key: row!.key }))

  const expected = {
    recordings: [{ id: kept.recordingId, callSid: kept.callSid, file: `recordings/${kept.recordingId}.wav` }],
    recordingsNotExported: [{ id: lost.recordingId, callSid: lost.callSid, reason: 'object missing' }]
  }

  t.test('the controller\'s export', async (t) => {
    const controller = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json().apiKey)
    const res = await app.inject({ method: 'GET', url: `/api/tenants/${tenantId}/export`, headers: controller })
    t.equal(res.statusCode, 200)
    const files = await untar(res.rawPayload)
    t.ok(files.has('manifest.json'), 'the archive is complete')
    const manifest = JSON.parse(files.get('manifest.json')?.toString() ?? '{}')
    t.match(manifest, expected, 'the missing recording is listed with the reason')
    t.same(files.get(`recordings/${kept.recordingId}.wav`), wav(kept.audio), 'the other recording is exported')
    t.notOk(files.has(`recordings/${lost.recordingId}.wav`))
    t.equal(files.get('recordings.jsonl')?.toString().split('\n').filter((l) => l !== '').length, 2, 'both recordings\' metadata is there')
  })

  t.test('offboarding', async (t) => {
    clock.advance(60_000)
    const res = await app.inject({ method: 'POST', url: `/api/tenants/${tenantId}/offboard`, headers: admin, payload: { confirm: 'Acme' } })
    t.equal(res.statusCode, 200, res.body)
    const record = res.json()
    t.match(record, { tenantId, counts: { recordings: 2, wav: 1 } })
    t.not(record.completedAt, null, 'completed')
    const files = await untar(readFileSync(record.export.file))
    t.match(JSON.parse(files.get('manifest.json')?.toString() ?? '{}'), expected, 'the hand-over says what could not be exported')
    t.equal((await db.select().from(tenants).where(eq(tenants.id, tenantId))).length, 0, 'the tenant is erased')
    t.equal((await db.select().from(calls).where(eq(calls.tenantId, tenantId))).length, 0)
  })
})
