import { createHash } from 'node:crypto'
import { createReadStream, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { count, eq, is } from 'drizzle-orm'
import { PgTable, type PgColumn } from 'drizzle-orm/pg-core'
import { extract } from 'tar-stream'
import t from 'tap'
import type { App } from '../src/app.js'
import { entryHash, GENESIS } from '../src/audit/append.js'
import { decryptStream, openBuffer } from '../src/crypto/envelope.js'
import { kmsKeyring } from '../src/crypto/keyring.js'
import { NoTenantKey } from '../src/crypto/tenant-keys.js'
import * as schema from '../src/db/schema.js'
import { TENANT_TABLES } from '../src/offboarding/tenant-tables.js'
import { admin, bearer, signedTwilio } from './helper.js'
import { fakeKms } from './fake-kms.js'
import { consentingCall, NUMBER, recordCall, setup, wav } from './media-helpers.js'
import { s3Of } from './storage-helpers.js'

async function untar (archive: Readable): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>()
  const reader = extract()
  reader.on('entry', (header, stream, next) => {
    buffer(stream).then((body) => { files.set(header.name, body); next() }, next)
  })
  archive.pipe(reader as unknown as NodeJS.WritableStream)
  await new Promise<void>((resolve, reject) => { reader.on('finish', () => resolve()); reader.on('error', reject); archive.on('error', reject) })
  return files
}

const lines = (file: Buffer | undefined) => (file?.toString('utf8') ?? '').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)

/** Every table of the schema that holds a tenant's rows (the offboarding record aside). */
const tablesWithTenant = (Object.values(schema) as unknown[])
  .filter((v): v is PgTable & { tenantId: PgColumn } => is(v, PgTable) && 'tenantId' in v && v !== schema.tenantOffboardings)

async function rowsOf (app: App, tenantId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const table of tablesWithTenant) {
    const [row] = await app.database.db.select({ n: count() }).from(table).where(eq(table.tenantId, tenantId))
    if (row!.n > 0) counts[(table as unknown as Record<symbol, string>)[Symbol.for('drizzle:Name')]!] = row!.n
  }
  const [tenant] = await app.database.db.select({ n: count() }).from(schema.tenants).where(eq(schema.tenants.id, tenantId))
  if (tenant!.n > 0) counts.tenants = tenant!.n
  return counts
}

async function objectsUnder (app: App, prefix: string): Promise<number> {
  const listed = await s3Of(app).send(new ListObjectsV2Command({ Bucket: app.objectStore.bucket, Prefix: prefix }))
  return listed.KeyCount ?? 0
}

t.test('every table with a tenant_id is exported or deliberately left out, and erased', async (t) => {
  t.same(new Set(TENANT_TABLES.map((x) => x.table)), new Set(tablesWithTenant), 'TENANT_TABLES lists exactly the tenant tables')
})

t.test('offboarding: hand-over export, then nothing of the tenant left, and its ciphertext unreadable', async (t) => {
  const { app, tenantId, clock } = await setup(t)
  const controller = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json().apiKey)

  // A second tenant, whose data must come through untouched.
  const otherId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Other' } })).json().id
  const otherOps = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: otherId, role: 'ops', name: 'P', email: 'p@other.test' } })).json().apiKey)
  await app.inject({ method: 'POST', url: '/api/campaigns', headers: otherOps, payload: { name: 'B', timezone: 'Europe/London', hours: { tue: [['09:00', '17:00']] }, retention: { recordingsDays: 30, callLogDays: 60, redactAfterDays: 10 }, lawfulBasis: 'consent' } })
  t.equal((await app.inject({ method: 'POST', url: '/api/suppressions', headers: otherOps, payload: { number: '+447700900999', reason: 'asked' } })).statusCode, 201)
  const otherBefore = await rowsOf(app, otherId)

  const first = await recordCall(app, '+447700900401', 2)
  const second = await recordCall(app, '+447700900402', 1)
  const optout = await consentingCall(app, '2', '+447700900403')
  await app.inject(signedTwilio('/twilio/flow?node=menu', { CallSid: optout.callSid, From: '+447700900403', To: NUMBER, Digits: '9' }))
  const [suppression] = await app.database.db.select().from(schema.suppressions).where(eq(schema.suppressions.tenantId, tenantId))
  t.ok(suppression, 'the opt-out is stored')

  const [row] = await app.database.db.select().from(schema.recordings).where(eq(schema.recordings.id, first.recordingId))
  t.match(row!.keyId, new RegExp(`^tenant:${tenantId}/local:local-1$`), 'recordings are wrapped by the tenant key')
  const object = await s3Of(app).send(new GetObjectCommand({ Bucket: row!.bucket, Key: row!.key }))
  const savedCopy = Buffer.from(await object.Body!.transformToByteArray())
  const context = { tenantId, callSid: first.callSid, recordingId: first.recordingId }
  const decrypted = await buffer(Readable.from([savedCopy]).pipe(decryptStream((await app.tenantKeys.forTenant(tenantId)).keyring, context)))
  t.same(decrypted, first.audio, 'before offboarding, the saved copy decrypts')
  await t.rejects(buffer(Readable.from([savedCopy]).pipe(decryptStream(app.keyring.keyring, context))), 'the installation key alone never could')

  t.test('refusals change nothing', async (t) => {
    const wrong = await app.inject({ method: 'POST', url: `/api/tenants/${tenantId}/offboard`, headers: admin, payload: { confirm: 'acme' } })
    t.equal(wrong.statusCode, 400)
    t.match(wrong.json().message, /body\/confirm/)
    t.equal((await app.inject({ method: 'POST', url: `/api/tenants/${tenantId}/offboard`, headers: controller, payload: { confirm: 'Acme' } })).statusCode, 403, 'admins only')
    t.equal((await app.inject({ method: 'POST', url: '/api/tenants/00000000-0000-4000-8000-000000000000/offboard', headers: admin, payload: { confirm: 'Acme' } })).statusCode, 404)
    t.equal((await app.inject({ method: 'POST', url: `/api/tenants/${tenantId}/offboard`, headers: admin, payload: {} })).statusCode, 400)

    await app.inject({ method: 'POST', url: `/api/recordings/${second.recordingId}/hold`, headers: controller })
    const held = await app.inject({ method: 'POST', url: `/api/tenants/${tenantId}/offboard`, headers: admin, payload: { confirm: 'Acme' } })
    t.equal(held.statusCode, 409)
    t.match(held.json().message, new RegExp(`legal hold: ${second.recordingId}`))
    const [tenant] = await app.database.db.select().from(schema.tenants).where(eq(schema.tenants.id, tenantId))
    t.equal(tenant!.offboardingSince, null, 'the tenant still takes calls')
    await app.inject({ method: 'DELETE', url: `/api/recordings/${second.recordingId}/hold`, headers: controller })
  })

  t.test('a failed export leaves the tenant marked, and the offboarding can be called off', async (t) => {
    const exportDir = `${app.config.dataDir}/exports`
    rmSync(exportDir, { recursive: true })
    writeFileSync(exportDir, 'in the way')
    const failed = await app.inject({ method: 'POST', url: `/api/tenants/${tenantId}/offboard`, headers: admin, payload: { confirm: 'Acme' } })
    t.equal(failed.statusCode, 500)
    t.same(await rowsOf(app, tenantId).then((c) => c.calls), 3, 'nothing deleted')

    const during = await app.inject(signedTwilio('/twilio/voice', { CallSid: 'CA' + 'f'.repeat(32), From: '+447700900404', To: NUMBER }))
    t.match(during.body, /<Dial><Number>\+442079460000<\/Number><\/Dial>/, 'callers reach the switchboard meanwhile')
    t.same(await rowsOf(app, tenantId).then((c) => c.calls), 3, 'and their call is not stored')

    t.equal((await app.inject({ method: 'DELETE', url: `/api/tenants/${tenantId}/offboard`, headers: admin })).statusCode, 204)
    t.equal((await app.inject({ method: 'DELETE', url: `/api/tenants/${tenantId}/offboard`, headers: admin })).statusCode, 409, 'nothing left to call off')
    const after = await app.inject(signedTwilio('/twilio/voice', { CallSid: 'CA' + 'e'.repeat(32), From: '+447700900404', To: NUMBER }))
    t.match(after.body, /<Gather/, 'the flow runs again')
    rmSync(exportDir)
  })

  t.test('the export and the erasure', async (t) => {
    clock.advance(60_000)
    const res = await app.inject({ method: 'POST', url: `/api/tenants/${tenantId}/offboard`, headers: admin, payload: { confirm: 'Acme' } })
    t.equal(res.statusCode, 200, res.body)
    const record = res.json()
    t.match(record, {
      tenantId,
      actor: 'admin-token',
      counts: { calls: 4, recordings: 2, wav: 2, suppressions: 1 },
      kms: null,
      objectsDeleted: 2
    })
    t.not(record.completedAt, null)

    // The archive: every recording decrypts and plays as WAV; the rows are all there.
    const archive = readFileSync(record.export.file)
    t.equal(archive.length, record.export.bytes)
    t.equal(createHash('sha256').update(archive).digest('hex'), record.export.sha256)
    const files = await untar(createReadStream(record.export.file))
    t.same(files.get(`recordings/${first.recordingId}.wav`), wav(first.audio), 'first recording, decrypted, as WAV')
    t.same(files.get(`recordings/${second.recordingId}.wav`), wav(second.audio), 'second recording')
    const manifest = JSON.parse(files.get('manifest.json')!.toString())
    t.equal(manifest.recordings.length, 2)
    t.equal(manifest.recordings[0].sha256, createHash('sha256').update(files.get(manifest.recordings[0].file)!).digest('hex'))
    t.equal(lines(files.get('calls.jsonl')).length, 4)
    t.same(lines(files.get('consents.jsonl')).filter((c) => c.granted === true).map((c) => c.callSid).sort(), [first.callSid, second.callSid].sort(), 'consent evidence')
    t.same(lines(files.get('suppressions.jsonl')).map((s) => s.numberHash), [suppression!.numberHash], 'suppression hashes')
    t.equal(lines(files.get('campaigns.jsonl'))[0]!.lawfulBasis, 'consent')
    t.ok(lines(files.get('users.jsonl')).every((u) => !('keyHash' in u)), 'no key hashes')
    t.equal(JSON.parse(files.get('tenant.json')!.toString()).name, 'Acme')
    let prev = GENESIS
    const audit = lines(files.get('audit-log.jsonl'))
    for (const e of audit) {
      t.equal(e.prevHash, prev)
      t.equal(entryHash(prev, { seq: e.seq as number, at: e.at as string, actor: e.actor as string, action: e.action as string, subject: e.subject as string | null, details: e.details }), e.hash)
      prev = e.hash as string
    }
    t.match(audit.map((e) => e.action), ['tenant.create', 'user.create'])
    t.ok(audit.some((e) => e.action === 'tenant.offboard.cancel'), 'the called-off attempt is in the log')
    t.same(record.auditHead, { seq: audit.length, hash: prev }, 'the record names the last entry handed over')

    // Nothing of the tenant is left, anywhere.
    t.same(await rowsOf(app, tenantId), {}, 'no row of the tenant in any table')
    t.equal(await objectsUnder(app, `${tenantId}/`), 0, 'no object of the tenant in the bucket')
    t.same(await rowsOf(app, otherId), otherBefore, 'the other tenant is untouched')
    t.equal((await app.inject({ method: 'GET', url: `/api/audit/verify?tenantId=${otherId}`, headers: admin })).json().ok, true, 'and its audit chain intact')

    // Crypto-shredding: the copy saved before cannot be decrypted by anything the installation has.
    await t.rejects(app.tenantKeys.forTenant(tenantId), NoTenantKey)
    await t.rejects(buffer(Readable.from([savedCopy]).pipe(decryptStream(app.keyring.keyring, context))))

    const again = await app.inject({ method: 'POST', url: `/api/tenants/${tenantId}/offboard`, headers: admin, payload: { confirm: 'Acme' } })
    t.same(again.json(), record, 'offboarding again reports the same, done')
    t.same((await app.inject({ method: 'GET', url: `/api/tenants/${tenantId}/offboard`, headers: admin })).json(), record)
    t.equal((await app.inject({ method: 'GET', url: `/api/tenants/${otherId}/offboard`, headers: admin })).statusCode, 404)
    t.equal((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'ops', name: 'X', email: 'x@acme.test' } })).statusCode, 404, 'the tenant is gone')
    t.equal((await app.inject({ method: 'GET', url: '/api/campaigns', headers: controller })).statusCode, 401, 'its users\' keys are gone')
  })
})

t.test('a controller streams its own export; audited; nothing changes', async (t) => {
  const { app, tenantId } = await setup(t)
  const controller = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json().apiKey)
  const otherId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Other' } })).json().id
  const rec = await recordCall(app, '+447700900501', 1)
  const before = await rowsOf(app, tenantId)

  const res = await app.inject({ method: 'GET', url: `/api/tenants/${tenantId}/export`, headers: controller })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/x-tar')
  const files = await untar(Readable.from([res.rawPayload]))
  t.same(files.get(`recordings/${rec.recordingId}.wav`), wav(rec.audio))
  t.ok(files.has('README.txt'))
  t.equal((await rowsOf(app, tenantId)).calls, before.calls, 'nothing deleted')
  const log = (await app.inject({ method: 'GET', url: '/api/audit?action=tenant.export', headers: controller })).json()
  t.equal(log.entries.length, 1, 'the export is in the audit log')

  t.equal((await app.inject({ method: 'GET', url: `/api/tenants/${otherId}/export`, headers: controller })).statusCode, 404, 'not another tenant\'s')
  const ops = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'ops', name: 'O', email: 'o2@acme.test' } })).json().apiKey)
  t.equal((await app.inject({ method: 'GET', url: `/api/tenants/${tenantId}/export`, headers: ops })).statusCode, 403)
  t.equal((await app.inject({ method: 'GET', url: `/api/tenants/${otherId}/export`, headers: admin })).statusCode, 200, 'an admin may export any tenant')
})

t.test('a tenant with its own KMS key: deletion scheduled, a saved wrapped key useless', async (t) => {
  const kms = await fakeKms(t)
  const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' }
  const { app } = await setup(t, { KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/installation', KMS_ENDPOINT: kms.endpoint, S3_REGION: 'eu-west-1' }, { keys: { kmsCredentials: credentials } })
  const tenantKey = 'arn:aws:kms:eu-west-1:111122223333:key/tenant-own'
  const created = await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Own Key Ltd', kmsKeyId: tenantKey } })
  t.equal(created.statusCode, 201)
  const tenantId = created.json().id
  const keyring = await app.tenantKeys.forTenant(tenantId)
  t.equal(keyring.keyId, `tenant:${tenantId}/${tenantKey}`, 'the tenant key is wrapped by its own KMS key')
  t.match(kms.calls.at(-1), { target: 'TrentService.GenerateDataKey', body: { KeyId: tenantKey, EncryptionContext: { purpose: 'tenant-key', tenant: tenantId } } })
  const [stored] = await app.database.db.select().from(schema.tenantKeys).where(eq(schema.tenantKeys.tenantId, tenantId))
  const backup = Buffer.from(stored!.wrapped, 'base64')

  kms.fail('TrentService.ScheduleKeyDeletion')
  const failed = await app.inject({ method: 'POST', url: `/api/tenants/${tenantId}/offboard`, headers: admin, payload: { confirm: 'Own Key Ltd' } })
  t.equal(failed.statusCode, 500, 'KMS down: reported')
  const pending = (await app.inject({ method: 'GET', url: `/api/tenants/${tenantId}/offboard`, headers: admin })).json()
  t.match(pending, { completedAt: null, kms: { keyId: tenantKey, deletionDate: null }, objectsDeleted: 0 }, 'rows gone, key deletion still to do')
  t.same(await rowsOf(app, tenantId), {})
  t.match(await app.sweep(), { offboardingsFinished: 0 }, 'KMS still down: the sweeper leaves it for later')

  kms.heal('TrentService.ScheduleKeyDeletion')
  t.match(await app.sweep(), { offboardingsFinished: 1 }, 'the sweeper finishes it')
  const done = (await app.inject({ method: 'GET', url: `/api/tenants/${tenantId}/offboard`, headers: admin })).json()
  t.match(done, { kms: { keyId: tenantKey, deletionDate: '2026-12-01T00:00:00.000Z' } })
  t.not(done.completedAt, null)
  t.match(kms.calls.filter((c) => c.target === 'TrentService.ScheduleKeyDeletion').at(-1), { body: { KeyId: tenantKey, PendingWindowInDays: 7 } })
  t.ok(kms.pendingDeletion.has(tenantKey))
  await t.rejects(openBuffer(kmsKeyring(app.kmsOptions, tenantKey), backup, { purpose: 'tenant-key', tenant: tenantId }), 'a backup of the wrapped key no longer opens')
  t.match(await app.sweep(), { offboardingsFinished: 0 }, 'nothing left to finish')
})
