import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { GetObjectCommand, GetObjectTaggingCommand } from '@aws-sdk/client-s3'
import { asc, eq } from 'drizzle-orm'
import t from 'tap'
import { decryptStream } from '../../src/crypto/envelope.js'
import { callEvents, calls, consents, dsrRequests, recordings, streamTokens } from '../../src/db/schema.js'
import { hashNumber } from '../../src/privacy/number-hash.js'
import { startEmbeddedS3 } from '../../src/storage/embedded-s3.js'
import { createS3Client } from '../../src/storage/object-store.js'
import { admin, bearer, signedTwilio, tempDir, TWILIO_TOKEN } from '../helper.js'
import { expectedSlots, injectStream, payloadFor, STREAM_URL } from '../harness/media-streamer.js'
import { admitted, consentingCall, openStream, settle, setup } from '../media-helpers.js'
import { s3Of } from '../storage-helpers.js'

t.test('a consented call is recorded: encrypted, streamed, intact', async (t) => {
  const { app, tenantId } = await setup(t)
  const { callSid, token } = await consentingCall(app)
  const stream = await openStream(app)

  const SLOTS = 3 * 60 * 50 // three minutes of 20 ms frames
  const GAP = { from: 3000, to: 3100 } // 2 s with no outbound audio
  const expected = Buffer.alloc(SLOTS * 320, 0xff)
  const order: Array<[number, number]> = []
  for (let slot = 0; slot < SLOTS; slot++) {
    order.push([0, slot])
    if (slot < GAP.from || slot >= GAP.to) order.push([1, slot])
  }
  // Reorder: swap neighbouring inbound frames now and then (well inside the jitter window).
  for (let i = 100; i + 4 < order.length; i += 997) [order[i], order[i + 4]] = [order[i + 4]!, order[i]!]

  stream.connected()
  stream.start(callSid, token)
  stream.media('inbound', 0, payloadFor(0, 0)) // held while the token is checked
  await admitted(app, callSid)
  for (const [i, [track, slot]] of order.entries()) {
    const payload = payloadFor(track, slot)
    for (let s = 0; s < 160; s++) expected[slot * 320 + s * 2 + track] = payload[s]!
    stream.media(track === 0 ? 'inbound' : 'outbound', slot * 20, payload)
    if (i === 5000) stream.send('{"event":"media","media":{"track":"inbound","payload":"%%%not base64"}}')
    if (i === 6000) stream.send('garbage')
  }
  stream.stop()
  stream.media('inbound', SLOTS * 20, payloadFor(0, SLOTS)) // after stop: ignored, not fatal
  await settle(app)
  stream.terminate()

  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.callSid, callSid))
  t.ok(row, 'a recording row')
  t.match(row, { status: 'stored', tenantId, channels: 2, contentType: 'audio/x-mulaw;rate=8000;channels=2', plainBytes: expected.length, durationMs: 180_000, keyId: 'local:local-1', legalHold: false })
  t.equal(row!.sha256, createHash('sha256').update(expected).digest('hex'), 'sha256 of the plaintext')
  t.equal(row!.retainUntil!.toISOString(), '2027-02-22T10:00:00.000Z', '90 days after it was stored')
  t.match(row!.key, new RegExp(`^${tenantId}/2026/11/24/${row!.id}\\.cgrec$`), 'object key holds no personal data')

  const object = await s3Of(app).send(new GetObjectCommand({ Bucket: row!.bucket, Key: row!.key }))
  const ciphertext = Buffer.from(await object.Body!.transformToByteArray())
  t.ok(ciphertext.length > expected.length, 'ciphertext carries the envelope')
  let runs = 0
  for (let offset = 0; offset + 32 <= expected.length; offset += 4096) if (ciphertext.includes(expected.subarray(offset, offset + 32))) runs++
  t.equal(runs, 0, 'no run of the audio is in the stored object')
  for (const probe of [payloadFor(0, 10), payloadFor(1, 4000)]) t.notOk(ciphertext.includes(probe.subarray(0, 32)), 'no frame of either track in clear')

  const plain = await buffer(Readable.from([ciphertext]).pipe(decryptStream((await app.tenantKeys.forTenant(tenantId)).keyring, { tenantId, callSid, recordingId: row!.id })))
  t.equal(plain.length, expected.length)
  t.ok(plain.equals(expected), 'decrypts to exactly the two-channel audio, the gap filled with silence')
  const tags = await s3Of(app).send(new GetObjectTaggingCommand({ Bucket: row!.bucket, Key: row!.key }))
  t.same(tags.TagSet, [{ Key: 'retention-days', Value: '90' }])

  const [call] = await app.database.db.select().from(calls).where(eq(calls.callSid, callSid))
  const outcomes = (await app.database.db.select().from(callEvents).where(eq(callEvents.callId, call!.id)).orderBy(asc(callEvents.seq))).map((e) => e.outcome)
  t.ok(outcomes.includes('recording-started') && outcomes.includes('recording-stored'), 'recording events in the call log')
  t.same(readdirSync(join(app.config.dataDir, 'spool')), [], 'spool emptied after upload')
})

t.test('streams without a valid token are refused and store nothing', async (t) => {
  const { app } = await setup(t)
  const first = await consentingCall(app)
  const other = await consentingCall(app)

  const attempt = async (callSid: string, token: string | undefined) => {
    const stream = await openStream(app)
    stream.start(callSid, token)
    stream.media('inbound', 0, payloadFor(0, 0))
    const code = (await stream.closed).code
    stream.terminate()
    return code
  }
  t.equal(await attempt(first.callSid, undefined), 1008, 'no token')
  t.equal(await attempt(first.callSid, other.token), 1008, 'another call\'s token')
  t.equal(await attempt(first.callSid, 'made-up-token-000000000000'), 1008, 'an unknown token')

  const stream = await openStream(app)
  stream.start(first.callSid, first.token)
  stream.stop()
  await settle(app)
  stream.terminate()
  t.equal(await attempt(first.callSid, first.token), 1008, 'a token already used')

  await app.inject(signedTwilio('/twilio/status', { CallSid: other.callSid, CallStatus: 'completed', CallDuration: '5' }))
  t.equal(await attempt(other.callSid, other.token), 1008, 'a token of a call that has ended')

  const rows = await app.database.db.select().from(recordings)
  t.equal(rows.length, 1, 'only the admitted stream has a recording')
  t.equal(rows[0]!.callSid, first.callSid)

  await t.rejects(injectStream(app, { signedUrl: 'wss://elsewhere.test/twilio/media' }), 'an upgrade with a bad signature is refused')
})

t.test('S3 down during a call: spooled, then uploaded when it is back, bytes identical', async (t) => {
  const dir = tempDir(t)
  let s3 = await startEmbeddedS3({ dataDir: dir, buckets: ['rec-test'] })
  t.teardown(() => s3.close())
  const { endpoint, credentials } = s3
  // Back on the same port and folder later, as a store that restarts would be.
  const restart = async () => await startEmbeddedS3({ dataDir: dir, port: Number(new URL(endpoint).port), buckets: ['rec-test'] })
  const client = createS3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials })
  t.teardown(() => client.destroy())
  process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId
  process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey

  const { app } = await setup(t, { S3_ENDPOINT: endpoint, S3_BUCKET: 'rec-test', S3_FORCE_PATH_STYLE: 'true' })
  const { callSid, token } = await consentingCall(app)
  const stream = await openStream(app)
  stream.start(callSid, token)
  await admitted(app, callSid)
  await stream.play(0, 701)
  await s3.close() // storage goes away mid-call
  await stream.play(701, 1500)
  stream.stop()
  await settle(app)
  stream.terminate()

  const [spooled] = await app.database.db.select().from(recordings).where(eq(recordings.callSid, callSid))
  t.equal(spooled!.status, 'spooled', 'kept on local disk, not lost')
  const spoolFile = join(app.config.dataDir, 'spool', `${spooled!.id}.enc`)
  const spooledBytes = readFileSync(spoolFile)
  t.ok(spooledBytes.length > 1500 * 320, 'the encrypted recording is in the spool')
  t.notOk(spooledBytes.includes(payloadFor(0, 10).subarray(0, 32)), 'the spool holds ciphertext only')

  s3 = await restart()
  t.equal(await app.recorder.retrySpooled(), 1, 'the retry uploads it')
  const [stored] = await app.database.db.select().from(recordings).where(eq(recordings.callSid, callSid))
  t.equal(stored!.status, 'stored')
  const object = await client.send(new GetObjectCommand({ Bucket: 'rec-test', Key: stored!.key }))
  t.ok(Buffer.from(await object.Body!.transformToByteArray()).equals(spooledBytes), 'bytes identical to what was spooled')
  t.equal(await app.recorder.retrySpooled(), 0, 'nothing left to retry')
})

t.test('an agent pauses and resumes: the stretch is cut out; stop ends the stream', async (t) => {
  const { app, tenantId, clock, agent } = await setup(t)
  const { callSid, token } = await consentingCall(app)
  const stream = await openStream(app)
  stream.start(callSid, token)
  await admitted(app, callSid)
  const start = clock.now().getTime()
  const SLOTS = 500 // 10 s
  // Everything but 3.0–5.0 s.
  const expected = Buffer.concat([expectedSlots(0, 150), expectedSlots(250, SLOTS)])
  const control = async (action: string) => {
    const res = await app.inject({ method: 'POST', url: `/api/calls/${callSid}/recording`, headers: agent.headers, payload: { action } })
    t.equal(res.statusCode, 202, `${action} accepted`)
    return res.json()
  }
  await stream.play(0, 125) // to 2.5 s
  clock.set(new Date(start + 3000).toISOString())
  await control('pause')
  t.equal(await app.recorder.pollControls(), 1)
  await stream.play(125, 275) // to 5.5 s: the pause lands inside the delay line
  clock.set(new Date(start + 5000).toISOString())
  await control('resume')
  await app.recorder.pollControls()
  await stream.play(275, SLOTS)
  await control('stop')
  await app.recorder.pollControls()
  t.equal((await stream.closed).code, 1000, 'the server ends the stream')
  await settle(app)
  stream.terminate()

  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.callSid, callSid))
  t.match(row, { status: 'stored', durationMs: 8000, plainBytes: 128_000 })
  const object = await s3Of(app).send(new GetObjectCommand({ Bucket: row!.bucket, Key: row!.key }))
  const plain = await buffer(Readable.from([Buffer.from(await object.Body!.transformToByteArray())]).pipe(decryptStream((await app.tenantKeys.forTenant(tenantId)).keyring, { tenantId, callSid, recordingId: row!.id })))
  t.ok(plain.equals(expected), 'exactly the audio outside 3.0–5.0 s')
  const [call] = await app.database.db.select().from(calls).where(eq(calls.callSid, callSid))
  const events = await app.database.db.select().from(callEvents).where(eq(callEvents.callId, call!.id))
  t.ok(events.some((e) => e.outcome === 'recording-paused-ms' && e.input === '2000'))
  const noLive = await app.inject({ method: 'POST', url: `/api/calls/${callSid}/recording`, headers: agent.headers, payload: { action: 'pause' } })
  t.equal(noLive.statusCode, 409, 'nothing to pause once stopped')
})

t.test('an agent starts recording on verbal consent through Twilio\'s API', async (t) => {
  const requests: Array<{ url: string, auth: string, form: URLSearchParams }> = []
  let failNext = false
  const api = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      requests.push({ url: req.url ?? '', auth: req.headers.authorization ?? '', form: new URLSearchParams(body) })
      res.writeHead(failNext ? 500 : 201, { 'content-type': 'application/json' })
      res.end(JSON.stringify(failNext ? { code: 20500, message: 'boom', status: 500 } : { sid: 'MZ' + '2'.repeat(32), status: 'in-progress', name: 'recording' }))
      failNext = false
    })
  })
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve))
  t.teardown(() => api.close())
  const accountSid = 'AC' + 'a'.repeat(32)
  const { app, agent } = await setup(t, { TWILIO_ACCOUNT_SID: accountSid, TWILIO_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}` })
  const { callSid } = await consentingCall(app, '2')
  const url = `/api/calls/${callSid}/recording`

  const bare = await app.inject({ method: 'POST', url, headers: agent.headers, payload: { action: 'start' } })
  t.equal(bare.statusCode, 400, 'no IVR consent and no attestation')
  t.match(bare.json().message, /body\/attestation/)
  t.equal(requests.length, 0, 'Twilio not asked')

  const started = await app.inject({ method: 'POST', url, headers: agent.headers, payload: { action: 'start', attestation: 'verbal' } })
  t.equal(started.statusCode, 202)
  t.equal(requests.length, 1)
  const sent = requests[0]!
  t.equal(sent.url, `/2010-04-01/Accounts/${accountSid}/Calls/${callSid}/Streams.json`)
  t.equal(sent.auth, 'Basic ' + Buffer.from(`${accountSid}:${TWILIO_TOKEN}`).toString('base64'))
  t.equal(sent.form.get('Url'), STREAM_URL)
  t.equal(sent.form.get('Track'), 'both_tracks')
  t.equal(sent.form.get('Parameter1.Name'), 'token')
  const token = sent.form.get('Parameter1.Value')!
  const evidence = await app.database.db.select().from(consents).where(eq(consents.callSid, callSid))
  t.match(evidence.find((c) => c.method === 'verbal'), { granted: true, attestedBy: agent.id, prompt: 'record after the caller agreed on the line' })

  const stream = await openStream(app)
  stream.start(callSid, token)
  await admitted(app, callSid)
  const again = await app.inject({ method: 'POST', url, headers: agent.headers, payload: { action: 'start', attestation: 'verbal' } })
  t.equal(again.statusCode, 409, 'already recording')
  stream.stop()
  await settle(app)
  stream.terminate()

  const second = await consentingCall(app, '2', '+447700900777')
  failNext = true
  const failed = await app.inject({ method: 'POST', url: `/api/calls/${second.callSid}/recording`, headers: agent.headers, payload: { action: 'start', attestation: 'verbal' } })
  t.equal(failed.statusCode, 502, 'Twilio refused: reported')
  const tokens = await app.database.db.select().from(streamTokens).where(eq(streamTokens.callSid, second.callSid))
  t.ok(tokens.every((tk) => tk.usedAt !== null), 'and the token it would have used is void')

  const controller = (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: (await app.database.db.select().from(calls).where(eq(calls.callSid, callSid)))[0]!.tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json()
  t.equal((await app.inject({ method: 'POST', url, headers: bearer(controller.apiKey), payload: { action: 'stop' } })).statusCode, 403, 'a controller does not run calls')
  const otherTenant = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Globex' } })).json().id
  const stranger = (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: otherTenant, role: 'agent', name: 'S', email: 's@globex.test' } })).json()
  t.equal((await app.inject({ method: 'POST', url, headers: bearer(stranger.apiKey), payload: { action: 'start', attestation: 'verbal' } })).statusCode, 404)
})

t.test('a restricted number is never recorded', async (t) => {
  const { app, tenantId, agent } = await setup(t)
  const caller = '+447700900999'
  await app.database.db.insert(dsrRequests).values({ tenantId, type: 'restriction', numberHash: hashNumber(app.config.numberHashKey, caller), status: 'active' })
  const { callSid, token } = await consentingCall(app, '1', caller)
  const stream = await openStream(app)
  stream.start(callSid, token)
  t.equal((await stream.closed).code, 1008, 'even with IVR consent the stream is refused')
  stream.terminate()
  const res = await app.inject({ method: 'POST', url: `/api/calls/${callSid}/recording`, headers: agent.headers, payload: { action: 'start', attestation: 'verbal' } })
  t.equal(res.statusCode, 409)
  t.match(res.json().message, /restriction/)
  t.equal((await app.database.db.select().from(recordings)).length, 0)
})
