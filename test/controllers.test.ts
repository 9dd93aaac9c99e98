import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { eq, sql } from 'drizzle-orm'
import t from 'tap'
import * as schema from '../src/db/schema.js'
import { hashNumber } from '../src/privacy/number-hash.js'
import { admin, bearer, signedTwilio } from './helper.js'
import { consentingCall, NUMBER, recordCall, setup, wav } from './media-helpers.js'
import { s3Of } from './storage-helpers.js'

const CALLER = '+447700900123'

const pathOf = (url: string) => url.replace('https://voice.callgate.test', '')

t.test('controllers: links, audit, data-subject requests', async (t) => {
  const { app, tenantId, clock, agent } = await setup(t)
  const user = async (tenant: string, role: string) => bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: tenant, role, name: role, email: `${role}@x.test` } })).json().apiKey)
  const controller = await user(tenantId, 'controller')
  const ops = await user(tenantId, 'ops')
  const otherTenant = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Globex' } })).json().id
  const stranger = await user(otherTenant, 'controller')
  const audits = async (action: string) => (await app.database.db.select().from(schema.auditLog).where(eq(schema.auditLog.action, action))).length

  const first = await recordCall(app, CALLER, 5)
  const expected = wav(first.audio)
  const linkUrl = `/api/recordings/${first.recordingId}/link`

  t.test('signed links: whole, ranges, expiry, tampering, PIN', async (t) => {
    t.equal((await app.inject({ method: 'POST', url: linkUrl, headers: ops })).statusCode, 403, 'ops cannot listen')
    t.equal((await app.inject({ method: 'POST', url: linkUrl, headers: agent.headers })).statusCode, 403, 'agents cannot listen')
    t.equal((await app.inject({ method: 'POST', url: linkUrl, headers: stranger })).statusCode, 404, 'another tenant cannot see it')
    const link = await app.inject({ method: 'POST', url: linkUrl, headers: controller })
    t.equal(link.statusCode, 200)
    const { url, expiresAt } = link.json()
    t.equal(expiresAt, new Date(clock.now().getTime() + 15 * 60_000).toISOString(), '15 minutes by default')
    t.match(url, new RegExp(`^https://voice\\.callgate\\.test/recordings/${first.recordingId}\\?token=`))
    const fetchesBefore = await audits('recording.fetch')

    const whole = await app.inject({ method: 'GET', url: pathOf(url) })
    t.equal(whole.statusCode, 200)
    t.equal(whole.headers['content-type'], 'audio/wav')
    t.equal(whole.headers['accept-ranges'], 'bytes')
    t.match(whole.headers.etag, /^"[0-9a-f]{32}"$/)
    t.ok(whole.rawPayload.equals(expected), 'exactly the expected WAV: header from the metadata, then the audio')

    const head = await app.inject({ method: 'GET', url: pathOf(url), headers: { range: 'bytes=0-999' } })
    t.equal(head.statusCode, 206)
    t.equal(head.headers['content-range'], `bytes 0-999/${expected.length}`)
    t.ok(head.rawPayload.equals(expected.subarray(0, 1000)), 'the first 1,000 bytes')
    const middle = await app.inject({ method: 'GET', url: pathOf(url), headers: { range: 'bytes=40000-49999' } })
    t.equal(middle.headers['content-range'], `bytes 40000-49999/${expected.length}`)
    t.ok(middle.rawPayload.equals(expected.subarray(40000, 50000)), 'a middle slice')
    const tail = await app.inject({ method: 'GET', url: pathOf(url), headers: { range: 'bytes=-500' } })
    t.ok(tail.rawPayload.equals(expected.subarray(expected.length - 500)), 'a suffix range')
    const beyond = await app.inject({ method: 'GET', url: pathOf(url), headers: { range: `bytes=${expected.length}-` } })
    t.equal(beyond.statusCode, 416)
    t.equal(beyond.headers['content-range'], `bytes */${expected.length}`)
    t.equal(await audits('recording.fetch') - fetchesBefore, 4, 'every fetch audited once (not the refused range)')

    const token = new URL(url).searchParams.get('token')!
    const flipped = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA')
    t.equal((await app.inject({ method: 'GET', url: `/recordings/${first.recordingId}?token=${flipped}` })).statusCode, 403, 'tampered')
    const other = await recordCall(app, '+447700900456', 1)
    t.equal((await app.inject({ method: 'GET', url: `/recordings/${other.recordingId}?token=${token}` })).statusCode, 403, 'a token for another recording')
    t.equal((await app.inject({ method: 'GET', url: '/recordings/' + first.recordingId + '?token=garbage' })).statusCode, 403, 'malformed')

    const pinned = (await app.inject({ method: 'POST', url: linkUrl, headers: controller, payload: { pin: '4321', expiresInSeconds: 3600 } })).json()
    t.equal((await app.inject({ method: 'GET', url: pathOf(pinned.url) })).statusCode, 403, 'PIN missing')
    t.equal((await app.inject({ method: 'GET', url: pathOf(pinned.url), headers: { 'x-recording-pin': '1234' } })).statusCode, 403, 'wrong PIN')
    t.equal((await app.inject({ method: 'GET', url: pathOf(pinned.url), headers: { 'x-recording-pin': '4321', range: 'bytes=0-9' } })).statusCode, 206, 'right PIN')
    t.equal((await app.inject({ method: 'POST', url: linkUrl, headers: controller, payload: { expiresInSeconds: 90_000 } })).statusCode, 400, 'at most 24 hours')

    clock.advance(15 * 60_000)
    t.equal((await app.inject({ method: 'GET', url: pathOf(url) })).statusCode, 403, 'expired')
    clock.set('2026-11-24T10:00:00Z')
  })

  t.test('call detail is an audited read', async (t) => {
    const before = await audits('call.read')
    const res = await app.inject({ method: 'GET', url: `/api/calls/${first.callSid}`, headers: agent.headers })
    t.equal(res.statusCode, 200)
    const detail = res.json()
    t.equal(detail.consents[0].decision, 'granted')
    t.equal(detail.recordings[0].id, first.recordingId)
    t.ok(detail.events.length > 3)
    t.equal(await audits('call.read') - before, 1)
    t.equal((await app.inject({ method: 'GET', url: `/api/calls/${first.callSid}`, headers: stranger })).statusCode, 404)
  })

  t.test('data-subject requests', async (t) => {
    await consentingCall(app, '2', CALLER)
    await consentingCall(app, '1', CALLER)
    t.equal((await app.inject({ method: 'POST', url: '/api/dsr', headers: agent.headers, payload: { type: 'access', number: CALLER } })).statusCode, 403, 'agents do not run DSRs')
    t.equal((await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'access', number: '07700 900123' } })).statusCode, 400, 'a number must be E.164')

    const access = await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'access', number: CALLER } })
    t.equal(access.statusCode, 201)
    const body = access.json()
    t.match(body, { type: 'access', status: 'completed', result: { calls: 3, consents: 3, recordings: 1, suppressed: false } })
    t.equal(body.export.json.calls.length, 3, 'all three calls')
    t.same(body.export.json.consents.map((c: { decision: string }) => c.decision).sort(), ['denied', 'granted', 'granted'], 'with their consent evidence')
    t.equal(body.export.csv.calls.trim().split('\r\n').length, 4, 'CSV: header and three rows')
    const fresh = body.export.json.recordings[0].link as string
    t.equal((await app.inject({ method: 'GET', url: pathOf(fresh), headers: { range: 'bytes=0-3' } })).payload, 'RIFF', 'the export\'s link plays')
    t.match((await app.inject({ method: 'GET', url: `/api/dsr/${body.id}`, headers: controller })).json(), { id: body.id, type: 'access', status: 'completed' })
    t.equal((await app.inject({ method: 'GET', url: `/api/dsr/${body.id}`, headers: stranger })).statusCode, 404)

    const rect = await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'rectification', number: CALLER, corrections: { name: 'Jane Doe' } } })
    t.match(rect.json().result, { callsUpdated: 3, fields: ['name'] })
    t.equal((await app.inject({ method: 'GET', url: `/api/calls/${first.callSid}`, headers: controller })).json().attributes.name, 'Jane Doe')

    const restrict = await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'restriction', number: '+447700900888' } })
    t.equal(restrict.json().status, 'active')
    t.equal((await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'restriction', number: '+447700900888' } })).statusCode, 409)
    t.equal((await app.inject({ method: 'POST', url: `/api/dsr/${restrict.json().id}/lift`, headers: controller })).json().status, 'lifted')

    // The caller objects before asking to be erased: the objection must survive the erasure.
    const optout = await consentingCall(app, '2', CALLER)
    await app.inject(signedTwilio('/twilio/flow?node=menu', { CallSid: optout.callSid, From: CALLER, To: NUMBER, Digits: '9' }))

    const erasure = await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'erasure', number: CALLER } })
    t.equal(erasure.statusCode, 201)
    t.match(erasure.json().result, { callsDeleted: 4, recordingsDeleted: 1, recordingsHeld: [], suppressionKept: true })
    t.equal((await app.inject({ method: 'GET', url: pathOf(fresh) })).statusCode, 410, 'the link now answers 410')
    const listed = await s3Of(app).send(new ListObjectsV2Command({ Bucket: app.objectStore.bucket, Prefix: tenantId }))
    t.notOk((listed.Contents ?? []).some((o) => o.Key!.includes(first.recordingId)), 'the object is gone from the bucket')

    const hash = hashNumber(app.config.numberHashKey, CALLER)
    for (const [name, table] of Object.entries(schema)) {
      if (typeof table !== 'object' || table === null || !('getSQL' in table)) continue
      const rows = await app.database.db.select().from(table as typeof schema.calls)
      const text = JSON.stringify(rows)
      t.notOk(text.includes(CALLER) || text.includes(CALLER.slice(1)), `${name}: no trace of the number`)
      if (name !== 'suppressions') t.notOk(text.includes(hash), `${name}: not even its hash`)
    }
    const kept = await app.database.db.select().from(schema.suppressions).where(eq(schema.suppressions.numberHash, hash))
    t.equal(kept.length, 1, 'the opt-out is kept, as a hash')
  })

  t.test('deleting a recording; legal hold stops it', async (t) => {
    const rec = await recordCall(app, '+447700900777', 1)
    const url = `/api/recordings/${rec.recordingId}`
    const link = (await app.inject({ method: 'POST', url: `${url}/link`, headers: controller })).json().url
    await app.database.db.update(schema.recordings).set({ legalHold: true }).where(eq(schema.recordings.id, rec.recordingId))
    t.equal((await app.inject({ method: 'DELETE', url, headers: controller })).statusCode, 409, 'under legal hold')
    await app.database.db.update(schema.recordings).set({ legalHold: false }).where(eq(schema.recordings.id, rec.recordingId))
    t.equal((await app.inject({ method: 'DELETE', url, headers: ops })).statusCode, 403)
    t.equal((await app.inject({ method: 'DELETE', url, headers: controller })).statusCode, 204)
    t.equal((await app.inject({ method: 'DELETE', url, headers: controller })).statusCode, 410)
    t.equal((await app.inject({ method: 'GET', url: pathOf(link) })).statusCode, 410)
    t.equal(await audits('recording.delete'), 1)
  })

  t.test('the audit log: filtered, paged, verifiable, append-only', async (t) => {
    const page = await app.inject({ method: 'GET', url: '/api/audit?action=recording.fetch&limit=2', headers: controller })
    t.equal(page.json().entries.length, 2)
    const next = await app.inject({ method: 'GET', url: `/api/audit?action=recording.fetch&limit=100&afterSeq=${page.json().nextAfterSeq}`, headers: controller })
    t.ok(next.json().entries.every((e: { seq: number }) => e.seq > page.json().nextAfterSeq))
    t.equal((await app.inject({ method: 'GET', url: '/api/audit', headers: ops })).statusCode, 403)
    t.equal((await app.inject({ method: 'GET', url: '/api/audit', headers: admin })).statusCode, 400, 'admin names the tenant')
    t.equal((await app.inject({ method: 'GET', url: `/api/audit?tenantId=${otherTenant}`, headers: stranger })).json().entries.every((e: { action: string }) => e.action !== 'recording.fetch'), true, 'tenants see only their own log')
    const all = await app.database.db.select().from(schema.auditLog).where(eq(schema.auditLog.tenantId, tenantId))
    t.notOk(JSON.stringify(all).includes(CALLER), 'no entry holds a phone number')

    t.same((await app.inject({ method: 'GET', url: '/api/audit/verify', headers: controller })).json(), { ok: true, entries: all.length })
    await t.rejects(app.database.db.execute(sql`update audit_log set action = 'nothing' where seq = 3`), 'UPDATE refused by the database')
    await t.rejects(app.database.db.execute(sql`delete from audit_log where seq = 3`), 'DELETE refused by the database')
    // Someone with the power to switch the trigger off edits an entry: the chain shows it.
    await app.database.db.execute(sql`alter table audit_log disable trigger audit_log_no_update`)
    await app.database.db.execute(sql`update audit_log set details = '{"versions":0}'::jsonb where tenant_id = ${tenantId} and seq = 3`)
    await app.database.db.execute(sql`alter table audit_log enable trigger audit_log_no_update`)
    const verdict = (await app.inject({ method: 'GET', url: '/api/audit/verify', headers: controller })).json()
    t.match(verdict, { ok: false, firstBroken: { seq: 3 } })
  })
})
