// Tenant export and offboarding at volume: N recordings of D seconds each (two-channel µ-law,
// encrypted under the tenant key and uploaded to the embedded S3-protocol store like the
// recorder does), then (1) the export streamed over HTTP on 127.0.0.1 and counted, not kept,
// (2) the offboarding: archive to disk, erasure of rows and objects.
// Prints throughput and the process's peak RSS. Run by hand: `npx tsx bench/offboarding.ts [N=200] [seconds=60]`.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { encryptStream } from '../src/crypto/envelope.js'
import { calls, recordings } from '../src/db/schema.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
const N = Number(process.argv[2] ?? 200)
const SECONDS = Number(process.argv[3] ?? 60)
const ADMIN = 'bench-admin-token-0123456789abcdef'
const dir = mkdtempSync(join(tmpdir(), 'callgate-bench-offboard-'))
const config = loadConfig({ ...process.env, DATA_DIR: dir, ADMIN_TOKEN: ADMIN, TWILIO_AUTH_TOKEN: 'bench-twilio-token', LOG_LEVEL: 'warn', SWEEP_INTERVAL_SECONDS: '0', PORT: '0' })
const app = await buildApp(config)
await app.listen({ host: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }

const tenantId = (await (await fetch(`${base}/api/tenants`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench' }) })).json() as { id: string }).id
const { keyring, keyId } = await app.tenantKeys.forTenant(tenantId)
const plainBytes = SECONDS * 16000

let peak = 0
const sample = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 50)
const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`

/** Deterministic µ-law-ish audio, made a chunk at a time. */
function audio (seed: number): Readable {
  return Readable.from((function * () {
    for (let off = 0; off < plainBytes; off += 16000) {
      const chunk = Buffer.alloc(Math.min(16000, plainBytes - off))
      for (let i = 0; i < chunk.length; i++) chunk[i] = (seed * 31 + off + i * 7) % 255
      yield chunk
    }
  })())
}

let t0 = performance.now()
const now = new Date()
for (let i = 0; i < N; i++) {
  const callSid = 'CA' + i.toString(16).padStart(32, '0')
  const id = randomUUID()
  const key = `${tenantId}/bench/${id}.cgrec`
  const [call] = await app.database.db.insert(calls).values({ tenantId, callSid, direction: 'inbound', remoteHash: `h${i}`, localNumber: '+442079460018', status: 'completed', state: {}, startedAt: now }).returning({ id: calls.id })
  const body = audio(i).pipe(encryptStream(keyring, { tenantId, callSid, recordingId: id })).pipe(new PassThrough())
  await app.objectStore.put({ bucket: app.objectStore.bucket, key }, body, { retentionDays: 90, sseKmsKeyId: null })
  await app.database.db.insert(recordings).values({ id, tenantId, callId: call!.id, callSid, bucket: app.objectStore.bucket, key, contentType: 'audio/x-mulaw;rate=8000;channels=2', channels: 2, plainBytes, durationMs: SECONDS * 1000, sha256: 'x'.repeat(64), keyId, status: 'stored', createdAt: now })
}
const audioBytes = N * plainBytes
console.log(`setup: ${N} recordings × ${SECONDS} s (${mib(audioBytes)} of audio) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
const rssBefore = process.memoryUsage().rss
peak = rssBefore

t0 = performance.now()
const res = await fetch(`${base}/api/tenants/${tenantId}/export`, { headers })
let received = 0
for await (const chunk of res.body!) received += (chunk as Uint8Array).length
let s = (performance.now() - t0) / 1000
console.log(`export over HTTP: ${mib(received)} in ${s.toFixed(1)} s = ${(received / 1048576 / s).toFixed(1)} MiB/s (${(N / s).toFixed(1)} recordings/s); peak RSS ${mib(peak)} (${mib(rssBefore)} before)`)

peak = process.memoryUsage().rss
t0 = performance.now()
const off = await fetch(`${base}/api/tenants/${tenantId}/offboard`, { method: 'POST', headers, body: JSON.stringify({ confirm: 'Bench' }) })
const record = await off.json() as { export: { bytes: number }, objectsDeleted: number, completedAt: string | null }
s = (performance.now() - t0) / 1000
console.log(`offboard (archive to disk, erase rows and ${record.objectsDeleted} objects): ${s.toFixed(1)} s, archive ${mib(record.export.bytes)}, completed ${record.completedAt !== null}; peak RSS ${mib(peak)}`)

clearInterval(sample)
await app.close()
rmSync(dir, { recursive: true, force: true })
process.exit(0)
