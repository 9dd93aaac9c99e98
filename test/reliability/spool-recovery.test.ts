// Crash safety of live recordings, in-process: what a live recording has on disk at any moment,
// start-up recovery of the spool files a dead process left, and the spool folder's lock.
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID, createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/client-node'
import { asc, eq } from 'drizzle-orm'
import t from 'tap'
import type { App } from '../../src/app.js'
import { decryptStream, encryptStream, FRAME_BYTES, headerLength } from '../../src/crypto/envelope.js'
import { NoTenantKey } from '../../src/crypto/tenant-keys.js'
import { insertRecording } from '../../src/db/recordings.js'
import { callEvents, calls, recordings } from '../../src/db/schema.js'
import { LiveRecording, MAX_LOSS_MS } from '../../src/recording/live-recording.js'
import { reseal } from '../../src/recording/recovery.js'
import { build, tempDir } from '../helper.js'
import { expectedSlots, payloadFor } from '../harness/media-streamer.js'
import { consentingCall, settle, setup } from '../media-helpers.js'
import { s3Of } from '../storage-helpers.js'

const NO_TIMERS = { spoolRetryMs: 3_600_000, controlPollMs: 3_600_000 }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Interleaved two-channel audio of `ms` milliseconds, as the assembler writes it. */
const twoChannels = (ms: number): Buffer => expectedSlots(0, ms / 20)

t.test(`a live recording's spool file holds all but the last ${MAX_LOSS_MS} ms, at any moment`, async (t) => {
  t.ok(MAX_LOSS_MS <= 2000, 'the bound is within 2 s')
  const keyring = new RawAesKeyringNode({ keyNamespace: 'test', keyName: 'k', unencryptedMasterKey: randomBytes(32), wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING })
  const dir = tempDir(t)
  // Lengths that fall at different places of the SDK's 4 KiB frame and the assembler's chunk.
  for (const ms of [2600, 5500, 9000, 12_340]) {
    const id = randomUUID()
    const context = { tenantId: 't', callSid: 'CA1', recordingId: id }
    const live = new LiveRecording(id, dir, keyring, context, () => {})
    for (let slot = 0; slot < ms / 20; slot++) {
      live.push('inbound', slot * 20, payloadFor(0, slot))
      live.push('outbound', slot * 20, payloadFor(1, slot))
    }
    // Nothing more arrives (the process is about to die): what reaches the file is what was
    // already on its way. Read again until it has landed; held back in memory, it never would.
    let saved = { plainBytes: 0 }
    for (let attempt = 0; attempt < 30 && ms - saved.plainBytes / 16 > MAX_LOSS_MS; attempt++) {
      await sleep(50)
      // On a loaded machine the spool file may not even be open yet: nothing has landed.
      saved = await reseal(keyring, context, join(dir, `${id}.part`), join(dir, `${id}.check`))
        .catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return { plainBytes: 0 }; throw err })
    }
    t.ok(ms - saved.plainBytes / 16 <= MAX_LOSS_MS, `${ms} ms streamed: ${saved.plainBytes / 16} ms on disk`)
    const back = await buffer(Readable.from([readFileSync(join(dir, `${id}.check`))]).pipe(decryptStream(keyring, context)))
    t.ok(back.equals(twoChannels(ms).subarray(0, back.length)), 'exactly the start of the audio')
    const part = readFileSync(join(dir, `${id}.part`))
    t.notOk(part.includes(payloadFor(0, 3).subarray(0, 32)), 'ciphertext only')
    await live.discard()
  }
})

interface Orphan { id: string, callSid: string, audio: Buffer, message: Buffer }

/**
 * What a process that died leaves: a recording row still 'recording' and its spool file, cut
 * by `cut` (or under another name or status, for the branches that must not recover it).
 */
async function orphan (app: App, tenantId: string, opts: { ms: number, cut?: (message: Buffer) => Buffer, ext?: 'part' | 'enc', status?: string | null }): Promise<Orphan> {
  const { db } = app.database
  const { callSid } = await consentingCall(app)
  const [call] = await db.select().from(calls).where(eq(calls.callSid, callSid))
  const id = randomUUID()
  const audio = twoChannels(opts.ms)
  const { keyring, keyId } = await app.tenantKeys.forTenant(tenantId)
  const encrypt = encryptStream(keyring, { tenantId, callSid, recordingId: id })
  const message = buffer(encrypt)
  encrypt.end(audio)
  const status = opts.status === undefined ? 'recording' : opts.status
  if (status !== null) {
    const now = app.clock.now()
    await insertRecording(db, { id, tenantId, callId: call!.id, callSid, bucket: app.objectStore.bucket, key: `${tenantId}/2026/11/24/${id}.cgrec`, contentType: 'audio/x-mulaw;rate=8000;channels=2', keyId, status, startedAt: now, createdAt: now })
  }
  const bytes = await message
  writeFileSync(join(app.config.dataDir, 'spool', `${id}.${opts.ext ?? 'part'}`), (opts.cut ?? ((m) => m))(bytes))
  return { id, callSid, audio, message: bytes }
}

/** The same data folder and database as `app`, in a new app: a restart. */
async function restart (t: Parameters<typeof build>[0], app: App) {
  await app.close()
  const next = await build(t, { env: { DATA_DIR: app.config.dataDir }, overrides: { database: app.database, clock: app.clock, recorder: NO_TIMERS } })
  await next.ready()
  await settle(next)
  return next
}

const outcomesOf = async (app: App, callSid: string) => {
  const [call] = await app.database.db.select().from(calls).where(eq(calls.callSid, callSid))
  return await app.database.db.select().from(callEvents).where(eq(callEvents.callId, call!.id)).orderBy(asc(callEvents.seq))
}

t.test('at start, spool files left by a dead process are recovered, or cleared when nothing can be', async (t) => {
  const dir = tempDir(t)
  const { app, tenantId } = await setup(t, { DATA_DIR: dir })
  const headerOf = (m: Buffer) => headerLength(m)!
  // Cut 100 bytes into the fourth frame: three whole frames (3 × 4096 bytes = 768 ms) survive.
  const cut = await orphan(app, tenantId, { ms: 2000, cut: (m) => m.subarray(0, headerOf(m) + 3 * FRAME_BYTES + 100) })
  // Cut exactly after the second frame: the last whole frame must not be lost either.
  const atFrame = await orphan(app, tenantId, { ms: 2000, cut: (m) => m.subarray(0, headerOf(m) + 2 * FRAME_BYTES) })
  const headerOnly = await orphan(app, tenantId, { ms: 2000, cut: (m) => m.subarray(0, headerOf(m) + 10) })
  const empty = await orphan(app, tenantId, { ms: 2000, cut: () => Buffer.alloc(0) })
  // Died between completing the file and recording it: a whole message, row still 'recording'.
  const sealed = await orphan(app, tenantId, { ms: 1500, ext: 'enc' })
  const noRow = await orphan(app, tenantId, { ms: 500, status: null })
  const notLive = await orphan(app, tenantId, { ms: 500, status: 'failed' })
  writeFileSync(join(dir, 'spool', 'stray.part'), 'not a recording')

  const next = await restart(t, app)
  const { db } = next.database
  const rowOf = async (o: Orphan) => (await db.select().from(recordings).where(eq(recordings.id, o.id)))[0]
  const storedAudio = async (o: Orphan) => {
    const row = (await rowOf(o))!
    const object = await s3Of(next).send(new GetObjectCommand({ Bucket: row.bucket, Key: row.key }))
    const keyring = (await next.tenantKeys.forTenant(tenantId)).keyring
    return await buffer(Readable.from([Buffer.from(await object.Body!.transformToByteArray())]).pipe(decryptStream(keyring, { tenantId, callSid: o.callSid, recordingId: o.id })))
  }

  for (const [o, frames] of [[cut, 3], [atFrame, 2]] as const) {
    const bytes = frames * 4096
    t.match(await rowOf(o), { status: 'stored', truncated: true, plainBytes: bytes, durationMs: bytes / 16, sha256: createHash('sha256').update(o.audio.subarray(0, bytes)).digest('hex') }, `${frames} whole frames kept`)
    t.ok((await storedAudio(o)).equals(o.audio.subarray(0, bytes)), 'the stored object holds exactly the audio that was saved')
    const events = await outcomesOf(next, o.callSid)
    t.match(events.find((e) => e.outcome === 'recording-truncated'), { input: String(bytes / 16) }, 'the call log says so, with the duration kept')
    t.ok(events.some((e) => e.outcome === 'recording-stored'))
  }
  for (const o of [headerOnly, empty]) {
    t.match(await rowOf(o), { status: 'failed', truncated: true, durationMs: 0 }, 'nothing readable: failed')
    t.ok((await outcomesOf(next, o.callSid)).some((e) => e.outcome === 'recording-failed'))
  }
  t.match(await rowOf(sealed), { status: 'stored', truncated: false, durationMs: 1500 }, 'a whole message is stored whole, not marked truncated')
  t.ok((await storedAudio(sealed)).equals(sealed.audio))
  t.equal(await rowOf(noRow), undefined)
  t.match(await rowOf(notLive), { status: 'failed', truncated: false }, 'a row not in progress is left as it was')
  t.same(readdirSync(join(dir, 'spool')), [], 'every spool file settled: stored, or deleted')

  const controller = (await next.inject({ method: 'POST', url: '/api/users', headers: { authorization: `Bearer ${next.config.adminToken}` }, payload: { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json()
  const detail = await next.inject({ method: 'GET', url: `/api/calls/${cut.callSid}`, headers: { authorization: `Bearer ${controller.apiKey}` } })
  t.match(detail.json().recordings, [{ id: cut.id, status: 'stored', truncated: true, durationMs: 768 }], 'the call detail shows it')
})

t.test('a passing failure keeps the spool file for the next retry; a tenant without a key fails it', async (t) => {
  const { app, tenantId } = await setup(t, { DATA_DIR: tempDir(t) })
  const o = await orphan(app, tenantId, { ms: 1000, cut: (m) => m.subarray(0, m.length - 30) })
  await app.close()
  const next = await build(t, { env: { DATA_DIR: app.config.dataDir }, overrides: { database: app.database, clock: app.clock, recorder: NO_TIMERS } })
  const real = next.tenantKeys.forTenant.bind(next.tenantKeys)
  let failures = 1
  next.tenantKeys.forTenant = async (id) => {
    if (failures-- > 0) throw new Error('KMS unreachable')
    return await real(id)
  }
  await next.ready()
  await settle(next)
  const part = join(next.config.dataDir, 'spool', `${o.id}.part`)
  t.ok(existsSync(part), 'kept while the key cannot be had')
  t.match((await next.database.db.select().from(recordings).where(eq(recordings.id, o.id)))[0], { status: 'recording' })
  t.equal(await next.recorder.retrySpooled(), 1, 'the retry loop recovers and stores it')
  t.match((await next.database.db.select().from(recordings).where(eq(recordings.id, o.id)))[0], { status: 'stored', truncated: true, plainBytes: 12_288 })
  t.notOk(existsSync(part))

  const gone = await orphan(next, tenantId, { ms: 1000 })
  await next.close()
  const last = await build(t, { env: { DATA_DIR: app.config.dataDir }, overrides: { database: app.database, clock: app.clock, recorder: NO_TIMERS } })
  last.tenantKeys.forTenant = async () => { throw new NoTenantKey('offboarded') }
  await last.ready()
  await settle(last)
  t.match((await last.database.db.select().from(recordings).where(eq(recordings.id, gone.id)))[0], { status: 'failed', truncated: true }, 'no key, never readable: failed')
  t.same(readdirSync(join(last.config.dataDir, 'spool')), [])
})

t.test('the spool folder has one owner: a live one refuses the start, a dead one is taken over', async (t) => {
  const dir = tempDir(t)
  const lock = join(dir, 'spool.lock')
  const quiet = { recorder: NO_TIMERS }
  const first = await build(t, { env: { DATA_DIR: dir }, overrides: quiet })
  await first.ready()
  t.match(JSON.parse(readFileSync(lock, 'utf8')), { pid: process.pid }, 'the lock names its process')
  await t.rejects(build(t, { env: { DATA_DIR: dir }, overrides: quiet }), { name: 'SpoolInUse', message: /spool folder .*spool is in use by this process/ }, 'a second app of this process on the same folder')
  await first.close()
  t.notOk(existsSync(lock), 'close releases it')

  const again = await build(t, { env: { DATA_DIR: dir }, overrides: quiet })
  await again.close()

  // A live process, not this one: the test runner that started us.
  writeFileSync(lock, JSON.stringify({ pid: process.ppid, startedAt: 1, nonce: 'other' }))
  await t.rejects(build(t, { env: { DATA_DIR: dir }, overrides: quiet }), { name: 'SpoolInUse', message: new RegExp(`spool folder ${dir}/spool is in use by process ${process.ppid} \\(lock ${lock}\\)`) })
  t.match(JSON.parse(readFileSync(lock, 'utf8')), { pid: process.ppid }, 'and leaves its lock alone')

  // A process that has exited.
  const child = spawn(process.execPath, ['-e', ''])
  await new Promise((resolve) => child.once('exit', resolve))
  writeFileSync(lock, JSON.stringify({ pid: child.pid, startedAt: 1, nonce: 'dead' }))
  const taken = await build(t, { env: { DATA_DIR: dir }, overrides: quiet })
  t.match(JSON.parse(readFileSync(lock, 'utf8')), { pid: process.pid }, 'a dead owner\'s lock is taken over')
  await taken.close()

  // Our own pid, from an earlier run (a container's server has the same pid every time).
  writeFileSync(lock, JSON.stringify({ pid: process.pid, startedAt: 1, nonce: 'earlier' }))
  const reborn = await build(t, { env: { DATA_DIR: dir }, overrides: quiet })
  t.match(JSON.parse(readFileSync(lock, 'utf8')), { pid: process.pid, startedAt: performance.timeOrigin })
  await reborn.close()
  writeFileSync(lock, 'garbage')
  const unreadable = await build(t, { env: { DATA_DIR: dir }, overrides: quiet })
  t.match(JSON.parse(readFileSync(lock, 'utf8')), { pid: process.pid }, 'an unreadable lock owns nothing')
  await unreadable.close()
  t.same(readdirSync(dir).filter((n) => n.startsWith('spool')), ['spool'], 'no lock or temporary file left')
})
