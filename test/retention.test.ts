import { GetObjectTaggingCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { eq } from 'drizzle-orm'
import t from 'tap'
import { auditLog, callEvents, calls, recordingLinks, recordings } from '../src/db/schema.js'
import { applyBucketPolicy } from '../src/storage/bucket-policy.js'
import { lifecycleConfiguration } from '../src/storage/lifecycle.js'
import { bearer, admin, signedTwilio } from './helper.js'
import { consentingCall, NUMBER, recordCall, setup } from './media-helpers.js'
import { s3Of } from './storage-helpers.js'

const DAY = 86_400_000

t.test('retention windows, legal hold and redaction, enforced by the sweeper', async (t) => {
  const { app, tenantId, clock } = await setup(t)
  const controller = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json().apiKey)
  const campaignId = (await app.inject({ method: 'GET', url: '/api/campaigns', headers: controller })).json()[0].id
  const patched = await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaignId}`, headers: admin, payload: { retention: { recordingsDays: 30, callLogDays: 60, redactAfterDays: 10 }, storeCallerNumber: true } })
  t.equal(patched.statusCode, 200)
  const start = clock.now().getTime()
  const at = (days: number) => clock.set(new Date(start + days * DAY).toISOString())

  const kept = await recordCall(app, '+447700900301', 1)
  const expiring = await recordCall(app, '+447700900302', 1)
  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.id, expiring.recordingId))
  t.equal(row!.retainUntil!.getTime(), start + 30 * DAY, 'retainUntil = stored + 30 days')
  t.same(await app.inject({ method: 'POST', url: `/api/recordings/${kept.recordingId}/hold`, headers: controller }).then((r) => r.json()), { id: kept.recordingId, legalHold: true })

  // An opt-out on day 0, to check that redaction keeps matching it.
  const optout = await consentingCall(app, '2', '+447700900303')
  await app.inject(signedTwilio('/twilio/flow?node=menu', { CallSid: optout.callSid, From: '+447700900303', To: NUMBER, Digits: '9' }))

  const link = await app.inject({ method: 'POST', url: `/api/recordings/${kept.recordingId}/link`, headers: controller, payload: { expiresInSeconds: 3600 } })
  t.equal(link.statusCode, 200)
  t.match(await app.sweep(), { linksDeleted: 0 }, 'a link within its hour is kept')
  at(10)
  t.match(await app.sweep(), { recordingsDeleted: 0, callsRedacted: 0, linksDeleted: 1 }, 'day 10: nothing due but the expired link\'s row')
  t.equal((await app.database.db.select().from(recordingLinks)).length, 0, 'no link row left')
  at(11)
  t.match(await app.sweep(), { recordingsDeleted: 0, callsRedacted: 3 }, 'day 11: call logs redacted')
  const allCalls = await app.database.db.select().from(calls)
  t.ok(allCalls.every((c) => c.remoteNumber === null && c.redactedAt !== null && Object.keys(c.attributes).length === 0), 'no caller number left in calls')
  const events = await app.database.db.select().from(callEvents)
  t.ok(events.every((e) => e.input === null), 'nor in the events')
  t.notOk(JSON.stringify({ allCalls, events }).includes('7700900'), 'no trace of any caller number')
  const status = await app.inject({ method: 'GET', url: '/api/suppressions?number=%2B447700900303', headers: controller })
  t.equal(status.json().suppressed, true, 'the opt-out still matches after redaction')
  t.match(await app.sweep(), { callsRedacted: 0 }, 'redaction happens once')

  at(29)
  t.match(await app.sweep(), { recordingsDeleted: 0 }, 'day 29: still within the window')
  at(31)
  const [a, b] = await Promise.all([app.sweep(), app.sweep()])
  t.equal(a.recordingsDeleted + b.recordingsDeleted, 1, 'two sweepers at once: deleted once')
  const expired = (await app.database.db.select().from(recordings).where(eq(recordings.id, expiring.recordingId)))[0]!
  t.equal(expired.status, 'deleted')
  t.equal(expired.deletedAt!.getTime(), start + 31 * DAY, 'marked with the time')
  const listed = await s3Of(app).send(new ListObjectsV2Command({ Bucket: app.objectStore.bucket }))
  const keys = (listed.Contents ?? []).map((o) => o.Key)
  t.notOk(keys.includes(expired.key), 'its object is gone')
  const held = (await app.database.db.select().from(recordings).where(eq(recordings.id, kept.recordingId)))[0]!
  t.equal(held.status, 'stored', 'the one on legal hold survives')
  t.ok(keys.includes(held.key))
  t.equal((await app.inject({ method: 'DELETE', url: `/api/recordings/${kept.recordingId}`, headers: controller })).statusCode, 409)
  t.equal((await app.database.db.select().from(auditLog).where(eq(auditLog.action, 'recording.expire'))).length, 1, 'audited once')

  at(61)
  const late = await app.sweep()
  t.equal(late.callsDeleted, 2, 'day 61: call logs past 60 days deleted, except the held recording\'s call')
  t.same((await app.database.db.select().from(calls)).map((c) => c.callSid), [kept.callSid])

  t.same(await app.inject({ method: 'DELETE', url: `/api/recordings/${kept.recordingId}/hold`, headers: controller }).then((r) => r.json()), { id: kept.recordingId, legalHold: false })
  t.match(await app.sweep(), { recordingsDeleted: 1 }, 'released: now it goes')
  t.same((await app.database.db.select().from(auditLog).where(eq(auditLog.action, 'recording.hold'))).length, 1)
})

t.test('the bucket lifecycle document', async (t) => {
  const tag = (d: number) => ({ ID: `callgate-retention-${d}d`, Status: 'Enabled', Filter: { Tag: { Key: 'retention-days', Value: String(d) } }, Expiration: { Days: d }, NoncurrentVersionExpiration: { NoncurrentDays: 1 } })
  const expected = {
    Rules: [tag(30), tag(60), tag(90), { ID: 'callgate-abort-incomplete-uploads', Status: 'Enabled', Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, NoncurrentVersionExpiration: { NoncurrentDays: 1 } }]
  }
  t.same(lifecycleConfiguration([90, 30, 60, 30, 0]), expected, 'one expiration per window, sorted, no duplicates')
  const { app } = await setup(t)
  const report = await applyBucketPolicy({ client: s3Of(app), bucket: app.objectStore.bucket }, [30, 60, 90], null)
  t.equal(report.lifecycle, 'unsupported', 'the embedded store says so instead of pretending')
  t.same(report.document, expected)
})

t.test('a changed window applies to later recordings, or to all with the flag', async (t) => {
  const { app, clock } = await setup(t)
  const campaignId = (await app.inject({ method: 'GET', url: '/api/campaigns', headers: admin })).json()[0].id
  const rec = await recordCall(app, '+447700900401', 1)
  const retainUntil = async () => (await app.database.db.select().from(recordings).where(eq(recordings.id, rec.recordingId)))[0]!.retainUntil!.getTime()
  const stored = clock.now().getTime()
  t.equal(await retainUntil(), stored + 90 * DAY)
  const retention = { recordingsDays: 7, callLogDays: 365, redactAfterDays: 30 }
  await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaignId}`, headers: admin, payload: { retention } })
  t.equal(await retainUntil(), stored + 90 * DAY, 'existing recordings keep their window')
  const res = await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaignId}?recomputeRetention=true`, headers: admin, payload: { retention } })
  t.equal(res.statusCode, 200)
  t.equal(await retainUntil(), stored + 7 * DAY, 're-computed with the flag')
  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.id, rec.recordingId))
  const tags = await s3Of(app).send(new GetObjectTaggingCommand({ Bucket: row!.bucket, Key: row!.key }))
  t.same(tags.TagSet, [{ Key: 'retention-days', Value: '7' }], 'and the object re-tagged for the lifecycle rule')
})
