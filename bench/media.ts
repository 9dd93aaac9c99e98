// N concurrent synthetic Twilio Media Streams against the real server (a child process on
// 127.0.0.1, embedded PGlite and S3-protocol store): each call consents through the webhooks,
// then streams both tracks in real time (20 ms frames) for D seconds. Each N runs in a fresh
// server. Prints, per N: recordings stored intact (sha256 of the stored plaintext against the
// expected audio, and the stored object decrypted for one of them), frames lost, the server's
// RSS per stream, its CPU, and how far the sender fell behind real time.
// Run by hand: `npx tsx bench/media.ts [N,N,...=100,500,1000] [seconds=20]`.
// BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" passes node flags to the server.
//
// The load generator must cost far less than the server, or on a small machine it steals the
// CPU it is measuring: it speaks WebSocket itself over plain TCP sockets. Every stream sends the
// same bytes at the same moment (same frames, same sequence numbers), so each 20 ms tick builds
// one buffer (both tracks' media messages, masked with a zero key, which RFC 6455 §5.3 allows:
// the key must be unpredictable to protect proxies, and there are none on loopback) and writes
// it to every socket: one write per stream per tick, no per-stream JSON or masking. The streams
// are split between BENCH_SENDERS worker threads (default 2), so the sender can use both cores.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { Worker } from 'node:worker_threads'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { systemClock } from '../src/clock.js'
import { decryptStream } from '../src/crypto/envelope.js'
import { createKeyring } from '../src/crypto/keyring.js'
import { createTenantKeys } from '../src/crypto/tenant-keys.js'
import { openDatabase, type Db } from '../src/db/client.js'
import { recordings } from '../src/db/schema.js'
import { openObjectStore } from '../src/storage/object-store.js'
import { twilioSignature } from '../src/twilio/signature.js'

const COUNTS = (process.argv[2] ?? '100,500,1000').split(',').map(Number)
const SECONDS = Number(process.argv[3] ?? 20)
const SLOTS = SECONDS * 50
const TOKEN = 'bench-twilio-auth-token-0123456789'
const ADMIN = 'bench-admin-token-0123456789abcdef'
const SENDERS = Number(process.env.BENCH_SENDERS ?? 2)
const SERVER_ARGS = (process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter((a) => a !== '')

// 50 distinct frames per track, reused in rotation: checkable afterwards.
const frames = [0, 1].map((track) => Array.from({ length: 50 }, (_, i) => {
  const b = Buffer.alloc(160)
  for (let s = 0; s < 160; s++) b[s] = (track * 97 + i * 31 + s * 7) % 255
  return b
}))
const encoded = frames.map((track) => track.map((b) => b.toString('base64')))
const expectedSha = (() => {
  const hash = createHash('sha256')
  const out = Buffer.alloc(320)
  for (let slot = 0; slot < SLOTS; slot++) {
    for (let s = 0; s < 160; s++) { out[s * 2] = frames[0]![slot % 50]![s]!; out[s * 2 + 1] = frames[1]![slot % 50]![s]! }
    hash.update(out)
  }
  return hash.digest('hex')
})()

// The sender threads' code: plain JavaScript, so a worker needs no TypeScript loader.
const SENDER = `
const { workerData, parentPort } = require('node:worker_threads')
const { connect } = require('node:net')
const { randomBytes } = require('node:crypto')
const { port, signature, slots, encoded, calls } = workerData
/** A client-to-server frame (RFC 6455 §5.2), masked with the zero key. */
function wsFrame (text, opcode = 0x1) {
  const payload = Buffer.from(text)
  const len = payload.length
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
  return Buffer.concat([head, Buffer.alloc(4), payload])
}
const closeFrame = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
const mediaMessages = (slot) => Buffer.concat(['inbound', 'outbound'].map((track, t) =>
  wsFrame('{"event":"media","sequenceNumber":"' + (2 + slot * 2 + t) + '","streamSid":"MZ","media":{"track":"' + track + '","chunk":"' + (slot + 1) + '","timestamp":"' + (slot * 20) + '","payload":"' + encoded[t][slot % 50] + '"}}')))
/** Opens a WebSocket by hand: the upgrade request, then the 101 answer. */
function openWs () {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    socket.once('error', reject)
    socket.once('connect', () => socket.write('GET /twilio/media HTTP/1.1\\r\\nHost: 127.0.0.1:' + port + '\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: ' + randomBytes(16).toString('base64') + '\\r\\nX-Twilio-Signature: ' + signature + '\\r\\n\\r\\n'))
    let head = ''
    const onData = (chunk) => {
      head += chunk.toString('latin1')
      if (!head.includes('\\r\\n\\r\\n')) return
      socket.off('data', onData)
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head.split('\\r\\n')[0]))
      // The server sends nothing but its close frame; read and drop so the socket never stalls.
      socket.on('data', () => {})
      socket.off('error', reject)
      socket.on('error', () => {})
      resolve(socket)
    }
    socket.on('data', onData)
  })
}
const sockets = []
;(async () => {
  for (const { sid, token } of calls) {
    const socket = await openWs()
    socket.write(wsFrame(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid: 'MZ' + sid.slice(2), start: { streamSid: 'MZ' + sid.slice(2), accountSid: 'AC' + '0'.repeat(32), callSid: sid, tracks: ['inbound', 'outbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 }, customParameters: { token } } })))
    sockets.push(socket)
  }
  parentPort.postMessage({ type: 'open' })
})()
parentPort.on('message', (message) => {
  if (message.type === 'go') {
    // Every stream sends the same bytes at the same moment: one buffer per 20 ms, one write per socket.
    const { startAt } = message
    const lags = []
    let maxBacklog = 0
    let slot = 0
    const tick = () => {
      const now = Date.now()
      // Every slot that is due goes out now; how late the oldest of them is, is the sender's lag.
      const due = Math.min(slots - 1, Math.floor((now - startAt) / 20))
      if (slot <= due) lags.push(now - startAt - slot * 20)
      while (slot <= due) {
        const bytes = mediaMessages(slot)
        for (const socket of sockets) socket.write(bytes)
        slot++
      }
      for (const socket of sockets) maxBacklog = Math.max(maxBacklog, socket.writableLength)
      if (slot >= slots) return parentPort.postMessage({ type: 'sent', lags, maxBacklog })
      setTimeout(tick, Math.max(0, startAt + slot * 20 - Date.now()))
    }
    setTimeout(tick, Math.max(0, startAt - Date.now()))
  } else if (message.type === 'stop') {
    let open = sockets.length
    if (open === 0) parentPort.postMessage({ type: 'closed' })
    calls.forEach(({ sid }, i) => {
      sockets[i].once('close', () => { if (--open === 0) parentPort.postMessage({ type: 'closed' }) })
      sockets[i].write(wsFrame(JSON.stringify({ event: 'stop', sequenceNumber: String(2 + slots * 2), streamSid: 'MZ', stop: { accountSid: 'AC' + '0'.repeat(32), callSid: sid } })))
      sockets[i].end(closeFrame)
    })
  }
})
`

const progress = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`)
const freePort = () => new Promise<number>((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) }) })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Result {
  n: number
  intact: number
  rows: number
  decrypted: boolean
  framesLost: number
  baselineMiB: number
  peakMiB: number
  perStreamKiB: number
  cpuCore: number
  cpuMsPerStreamSecond: number
  wall: number
  maxLagMs: number
  p99LagMs: number
  maxBacklogKiB: number
  senderCpuCore: number
}

async function run (n: number): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'callgate-bench-media-'))
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dir, PORT: String(port), TWILIO_AUTH_TOKEN: TOKEN, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'warn', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
  delete env.DATABASE_URL
  const server: ChildProcess = spawn(process.execPath, [...SERVER_ARGS, '--import', 'tsx', 'src/server.ts'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  const serverExit = new Promise((resolve) => server.once('exit', resolve))
  try {
    for (let i = 0; ; i++) {
      if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) break
      if (i > 600) throw new Error('server did not start')
      await sleep(100)
    }
    const api = async (path: string, body: unknown) => {
      const res = await fetch(base + path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
      return await res.json() as { id: string }
    }
    const tenantId = (await api('/api/tenants', { name: 'Bench' })).id
    const campaign = await api('/api/campaigns', { tenantId, name: 'Bench', timezone: 'UTC', hours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]])), switchboard: '+442079460000', retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 }, lawfulBasis: 'consent' })
    const flow = await api('/api/flows', { name: 'Bench', campaignId: campaign.id })
    await api(`/api/flows/${flow.id}/versions`, { definition: JSON.parse(readFileSync(new URL('../examples/reception-flow.json', import.meta.url), 'utf8')) })
    await api(`/api/flows/${flow.id}/versions/1/publish`, {})
    await api('/api/numbers', { number: '+442079460018', campaignId: campaign.id, flowId: flow.id })
    const webhook = async (path: string, params: Record<string, string>) => {
      const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(TOKEN, base + path, params) }, body: new URLSearchParams(params).toString() })
      return await res.text()
    }

    const consented: Array<{ sid: string, token: string }> = []
    let next = 0
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < n) {
        const i = next++
        const sid = 'CA' + (0xbe000 + i).toString(16).padStart(32, '0')
        const p = { CallSid: sid, From: `+4477009${String(i).padStart(5, '0')}`, To: '+442079460018' }
        await webhook('/twilio/voice', p)
        const twiml = await webhook('/twilio/flow?node=consent', { ...p, Digits: '1' })
        consented[i] = { sid, token: /name="token" value="([^"]+)"/.exec(twiml)![1]! }
      }
    }))

    const statusOf = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]) * 1024
    const rssOf = () => statusOf('VmRSS')
    const cpuOf = () => { const f = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) / 100 }
    // Measured once the calls exist and before any stream opens: what follows is the streams' cost.
    await sleep(1000)
    const baselineRss = rssOf()
    // From here the kernel's high-water mark (VmHWM) catches every peak, even one between samples
    // or while this process is starved: writing 5 to clear_refs resets it to the current RSS.
    let hwm = true
    try { writeFileSync(`/proc/${server.pid}/clear_refs`, '5') } catch { hwm = false }
    progress(`N=${n}: ${n} calls consented; opening the streams`)

    const streamUrl = `ws://127.0.0.1:${port}/twilio/media`
    const signature = twilioSignature(TOKEN, streamUrl, {})
    // The streams are split between SENDERS threads, each with its own sockets and timer.
    const workers = Array.from({ length: SENDERS }, (_, w) => new Worker(SENDER, {
      eval: true,
      workerData: { port, signature, slots: SLOTS, encoded, calls: consented.filter((_, i) => i % SENDERS === w) }
    }))
    const fromWorkers = (type: string) => Promise.all(workers.map((worker) => new Promise<any>((resolve, reject) => {
      const onMessage = (message: { type: string }) => { if (message.type === type) { worker.off('message', onMessage); resolve(message) } }
      worker.on('message', onMessage)
      worker.once('error', reject)
    })))
    await fromWorkers('open')
    // Let every token check finish before audio starts, as Twilio's stream starts after <Start>.
    await sleep(2000)

    progress(`N=${n}: streams open; sending audio`)
    let peakRss = rssOf()
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssOf()) }, 200)
    const cpuStart = cpuOf()
    const ownCpuStart = process.cpuUsage()
    const startAt = Date.now() + 50
    const sent = fromWorkers('sent')
    for (const worker of workers) worker.postMessage({ type: 'go', startAt })
    const reports = await sent
    const wall = (Date.now() - startAt) / 1000
    const cpu = cpuOf() - cpuStart
    const own = process.cpuUsage(ownCpuStart)
    clearInterval(sampler)
    peakRss = Math.max(peakRss, rssOf(), hwm ? statusOf('VmHWM') : 0)
    const lags = reports.flatMap((r) => r.lags as number[])
    const maxBacklog = Math.max(...reports.map((r) => r.maxBacklog as number))
    progress(`N=${n}: audio sent; stopping the streams`)
    const closed = fromWorkers('closed')
    for (const worker of workers) worker.postMessage({ type: 'stop' })
    await closed
    await Promise.all(workers.map((worker) => worker.terminate()))

    // Wait for every recording to be stored (close waits for them), then read the server's rows.
    await sleep(500)
    server.kill('SIGTERM')
    await serverExit
    const database = await openDatabase({ url: null, pgliteDir: join(dir, 'pglite') })
    const rows = await database.db.select().from(recordings)
    const intact = rows.filter((r) => r.status === 'stored' && r.sha256 === expectedSha).length
    const storedBytes = rows.reduce((sum, r) => sum + (r.plainBytes ?? 0), 0)
    const decrypted = rows.length > 0 && await decryptsIntact(dir, database.db, rows.at(-1)!).finally(() => database.close())

    lags.sort((a, b) => a - b)
    return {
      n,
      intact,
      rows: rows.length,
      decrypted,
      framesLost: n * SLOTS * 2 - storedBytes / 160,
      baselineMiB: baselineRss / 2 ** 20,
      peakMiB: peakRss / 2 ** 20,
      perStreamKiB: (peakRss - baselineRss) / n / 1024,
      cpuCore: cpu / wall,
      cpuMsPerStreamSecond: cpu / (n * SECONDS) * 1000,
      wall,
      maxLagMs: lags.at(-1) ?? 0,
      p99LagMs: lags[Math.floor(lags.length * 0.99)] ?? 0,
      maxBacklogKiB: maxBacklog / 1024,
      senderCpuCore: (own.user + own.system) / 1e6 / wall
    }
  } finally {
    if (server.exitCode === null) { server.kill('SIGKILL'); await serverExit }
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The row's sha256 is what the server hashed; this reads the object back from the store the
 * server left in DATA_DIR/s3 and decrypts it, so the check covers encryption and upload too.
 */
async function decryptsIntact (dir: string, db: Db, row: typeof recordings.$inferSelect): Promise<boolean> {
  // The store exactly as the server ran it, with the credentials it generated into DATA_DIR.
  const store = await openObjectStore({ endpoint: null, bucket: row.bucket, region: 'us-east-1', forcePathStyle: true, sseKmsKeyId: null }, dir)
  try {
    const body = await store.get(row)
    const installation = await createKeyring({ kms: { keyId: null, endpoint: null, region: 'us-east-1' }, dataDir: dir })
    const tenantKeys = createTenantKeys({ db, installation, kmsKeyring: () => { throw new Error('no KMS in the bench') }, clock: systemClock })
    const { keyring } = await tenantKeys.forTenant(row.tenantId)
    const hash = createHash('sha256')
    await pipeline(body, decryptStream(keyring, { tenantId: row.tenantId, callSid: row.callSid, recordingId: row.id }), hash)
    return hash.digest('hex') === expectedSha
  } finally {
    await store.close()
  }
}

const results: Result[] = []
for (const n of COUNTS) {
  progress(`N=${n}: setting up, then ${SECONDS} s of audio`)
  results.push(await run(n))
}
console.log(`\nmedia streams: ${SECONDS} s per call, both tracks, 20 ms frames in real time from ${SENDERS} sender threads; server = one process (embedded PGlite + s3rver)`)
console.log('RSS per stream = (server peak RSS, VmHWM, from the first stream opened to the last frame sent − RSS before) / N; CPU per stream-second = server CPU / (N × seconds of audio)')
console.log('| N | stored intact | decrypts (1 object) | frames lost | server RSS baseline → peak | RSS per stream | server CPU | CPU per stream-second | sender lag p99 / max | sender backlog max | sender CPU |')
console.log('|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of results) {
  console.log(`| ${r.n} | ${r.intact}/${r.n} (${r.rows} rows) | ${r.decrypted ? 'yes' : 'NO'} | ${r.framesLost} | ${r.baselineMiB.toFixed(0)} → ${r.peakMiB.toFixed(0)} MiB | ${r.perStreamKiB.toFixed(0)} KiB | ${(r.cpuCore * 100).toFixed(0)} % of a core | ${r.cpuMsPerStreamSecond.toFixed(2)} ms | ${r.p99LagMs.toFixed(0)} / ${r.maxLagMs.toFixed(0)} ms (${SECONDS} s sent in ${r.wall.toFixed(1)} s) | ${r.maxBacklogKiB.toFixed(0)} KiB | ${(r.senderCpuCore * 100).toFixed(0)} % of a core |`)
}
