// Offline throughput of the recording pipeline for one long call: synthetic two-track µ-law
// frames → the recorder's LiveRecording (assembler with its delay line → AWS Encryption SDK under
// a tenant key → crash-safe spool file) → the recorder's multipart upload to an S3-protocol
// server on 127.0.0.1. Streamed end to end: nothing holds the recording in memory. The stored
// object is then read back, decrypted and checked against the sha256 of the audio fed in.
// Run by hand: `npx tsx bench/pipeline.ts [minutes=60]`.
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/client-node'
import { decryptStream } from '../src/crypto/envelope.js'
import { TENANT_KEY_NAMESPACE } from '../src/crypto/tenant-keys.js'
import { LiveRecording } from '../src/recording/live-recording.js'
import { openObjectStore } from '../src/storage/object-store.js'

const MINUTES = Number(process.argv[2] ?? 60)
const SLOTS = MINUTES * 60 * 50
const dir = mkdtempSync(join(tmpdir(), 'callgate-bench-pipeline-'))
const spoolDir = join(dir, 'spool')
mkdirSync(spoolDir)

const rssNow = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024
let peakRss = rssNow()
const startRss = peakRss
const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssNow()) }, 50)

const bucket = 'recordings'
// The embedded store exactly as the server starts it (signed requests only, over dir/s3).
const store = await openObjectStore({ endpoint: null, bucket, region: 'us-east-1', forcePathStyle: true, sseKmsKeyId: null }, dir)

// A tenant key as src/crypto/tenant-keys.ts makes one: 256 bits, raw AES-GCM keyring in the tenant namespace.
const tenantId = '00000000-0000-4000-8000-000000000001'
const keyring = new RawAesKeyringNode({ keyNamespace: TENANT_KEY_NAMESPACE, keyName: tenantId, unencryptedMasterKey: randomBytes(32), wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING })
const context = { tenantId, callSid: 'CA' + '0'.repeat(32), recordingId: '00000000-0000-4000-8000-0000000000aa' }

// 50 distinct frames per track in rotation, as Twilio would send them (20 ms, 160 bytes).
const frames = [0, 1].map((track) => Array.from({ length: 50 }, (_, i) => {
  const b = Buffer.alloc(160)
  for (let s = 0; s < 160; s++) b[s] = (track * 97 + i * 31 + s * 7) % 255
  return b
}))
const expected = createHash('sha256')
const pair = Buffer.alloc(320)

const t0 = performance.now()
let waiting: (() => void) | null = null
let paused = false
const live = new LiveRecording(context.recordingId, spoolDir, keyring, context, (pause) => {
  paused = pause
  if (!pause) waiting?.()
})
for (let slot = 0; slot < SLOTS; slot++) {
  const left = frames[0]![slot % 50]!
  const right = frames[1]![slot % 50]!
  live.push('inbound', slot * 20, left)
  live.push('outbound', slot * 20, right)
  for (let s = 0; s < 160; s++) { pair[s * 2] = left[s]!; pair[s * 2 + 1] = right[s]! }
  expected.update(pair)
  // The WebSocket is paused on back-pressure in the server; here the feeder waits the same way.
  if (paused) await new Promise<void>((resolve) => { waiting = resolve })
  // Yield now and then, as frames arriving from sockets would, so the spool file's writes run.
  else if (slot % 500 === 0) await new Promise((resolve) => setImmediate(resolve))
}
const finished = await live.finish()
const t1 = performance.now()
const key = `${tenantId}/bench/${context.recordingId}.cgrec`
await store.put({ bucket, key }, createReadStream(finished.file, { highWaterMark: 1024 * 1024 }), { retentionDays: 90, sseKmsKeyId: null })
const t2 = performance.now()
clearInterval(sampler)
peakRss = Math.max(peakRss, rssNow())

// The object is the spool file's bytes, as uploaded.
const stored = (await stat(finished.file)).size
const object = await store.get({ bucket, key })
const back = createHash('sha256')
await pipeline(object, decryptStream(keyring, context), back)
const expectedSha = expected.digest('hex')
const intact = back.digest('hex') === expectedSha && finished.sha256 === expectedSha

const seconds = (t2 - t0) / 1000
const audioSeconds = MINUTES * 60
const mb = finished.plainBytes / 1e6
console.log(`pipeline: one ${MINUTES}-minute two-track recording (${mb.toFixed(1)} MB µ-law, ${(stored / 1e6).toFixed(1)} MB stored)`)
console.log('| stage | seconds | MB/s | × real time |')
console.log('|---|---|---|---|')
console.log(`| assemble + encrypt → spool file | ${((t1 - t0) / 1000).toFixed(2)} | ${(mb / ((t1 - t0) / 1000)).toFixed(1)} | ${(audioSeconds / ((t1 - t0) / 1000)).toFixed(0)}× |`)
console.log(`| multipart upload to s3rver | ${((t2 - t1) / 1000).toFixed(2)} | ${(mb / ((t2 - t1) / 1000)).toFixed(1)} | ${(audioSeconds / ((t2 - t1) / 1000)).toFixed(0)}× |`)
console.log(`| whole pipeline | ${seconds.toFixed(2)} | ${(mb / seconds).toFixed(1)} | ${(audioSeconds / seconds).toFixed(0)}× |`)
console.log(`peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (${(startRss / 2 ** 20).toFixed(0)} MiB at start, s3rver in the same process); stored object decrypts to the expected sha256: ${intact ? 'yes' : 'NO'}`)

await store.close()
rmSync(dir, { recursive: true, force: true })
if (!intact) process.exitCode = 1
