// N concurrent synthetic Twilio Media Streams against the real server (a child process on
// 127.0.0.1, embedded PGlite and S3-protocol store): each call consents through the webhooks,
// then streams both tracks in real time (20 ms frames) for D seconds.
// Prints the server's RSS per stream, its CPU, frames lost and recordings stored intact (sha256).
// Run by hand: `npx tsx bench/media.ts [N=200] [seconds=20]`.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { openDatabase } from '../src/db/client.js'
import { recordings } from '../src/db/schema.js'
import { twilioSignature } from '../src/twilio/signature.js'

const N = Number(process.argv[2] ?? 200)
const SECONDS = Number(process.argv[3] ?? 20)
const SLOTS = SECONDS * 50
const TOKEN = 'bench-twilio-auth-token-0123456789'
const ADMIN = 'bench-admin-token-0123456789abcdef'
const dir = mkdtempSync(join(tmpdir(), 'callgate-bench-media-'))
const port = await new Promise<number>((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) }) })
const base = `http://127.0.0.1:${port}`

const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dir, PORT: String(port), TWILIO_AUTH_TOKEN: TOKEN, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'warn', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
delete env.DATABASE_URL
const server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
const serverExit = new Promise((resolve) => server.once('exit', resolve))
for (let i = 0; ; i++) {
  if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) break
  if (i > 600) throw new Error('server did not start')
  await new Promise((resolve) => setTimeout(resolve, 100))
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

// 50 distinct frames per track, reused in rotation: cheap for the client, checkable afterwards.
const frames = [0, 1].map((track) => Array.from({ length: 50 }, (_, i) => {
  const b = Buffer.alloc(160)
  for (let s = 0; s < 160; s++) b[s] = (track * 97 + i * 31 + s * 7) % 255
  return b
}))
const expected = createHash('sha256')
for (let slot = 0; slot < SLOTS; slot++) {
  const out = Buffer.alloc(320)
  for (let s = 0; s < 160; s++) { out[s * 2] = frames[0]![slot % 50]![s]!; out[s * 2 + 1] = frames[1]![slot % 50]![s]! }
  expected.update(out)
}
const expectedSha = expected.digest('hex')
const encoded = frames.map((track) => track.map((b) => b.toString('base64')))

const rssOf = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]) * 1024
const cpuOf = () => { const f = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) / 100 }

const consented: Array<{ sid: string, token: string }> = []
for (let i = 0; i < N; i++) {
  const sid = 'CA' + (0xbe000 + i).toString(16).padStart(32, '0')
  const p = { CallSid: sid, From: `+4477009${String(i).padStart(5, '0')}`, To: '+442079460018' }
  await webhook('/twilio/voice', p)
  const twiml = await webhook('/twilio/flow?node=consent', { ...p, Digits: '1' })
  consented.push({ sid, token: /name="token" value="([^"]+)"/.exec(twiml)![1]! })
}
// Measured once the calls exist and before any stream opens: what follows is the streams' cost.
await new Promise((resolve) => setTimeout(resolve, 1000))
const baselineRss = rssOf()

const streamUrl = `ws://127.0.0.1:${port}/twilio/media`
const calls: Array<{ ws: WebSocket, sid: string, sent: number }> = []
for (const { sid, token } of consented) {
  const ws = new WebSocket(streamUrl, { headers: { 'x-twilio-signature': twilioSignature(TOKEN, streamUrl, {}) } })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  ws.send(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid: 'MZ' + sid.slice(2), start: { streamSid: 'MZ' + sid.slice(2), accountSid: 'AC' + '0'.repeat(32), callSid: sid, tracks: ['inbound', 'outbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 }, customParameters: { token } } }))
  calls.push({ ws, sid, sent: 0 })
}
// Let every token check finish before audio starts, as Twilio's stream starts after <Start>.
await new Promise((resolve) => setTimeout(resolve, 2000))

const cpuStart = cpuOf()
const started = Date.now()
let peakRss = 0
let late = 0
await new Promise<void>((resolve) => {
  let slot = 0
  const tick = () => {
    const due = Math.floor((Date.now() - started) / 20)
    if (due - slot > 5) late++
    while (slot <= due && slot < SLOTS) {
      for (const call of calls) {
        for (const [t, track] of (['inbound', 'outbound'] as const).entries()) {
          call.ws.send(`{"event":"media","sequenceNumber":"${++call.sent}","streamSid":"MZ","media":{"track":"${track}","chunk":"${slot + 1}","timestamp":"${slot * 20}","payload":"${encoded[t]![slot % 50]}"}}`)
        }
      }
      slot++
    }
    if (slot % 250 === 0) peakRss = Math.max(peakRss, rssOf())
    if (slot >= SLOTS) resolve()
    else setTimeout(tick, 10)
  }
  tick()
})
peakRss = Math.max(peakRss, rssOf())
const wall = (Date.now() - started) / 1000
const cpu = cpuOf() - cpuStart
for (const call of calls) call.ws.send(JSON.stringify({ event: 'stop', sequenceNumber: String(++call.sent), streamSid: 'MZ', stop: { accountSid: 'AC' + '0'.repeat(32), callSid: call.sid } }))
for (const call of calls) call.ws.close()

// Wait for every recording to be stored, then read the rows from the server's own database.
server.kill('SIGTERM')
await serverExit
const database = await openDatabase({ url: null, pgliteDir: join(dir, 'pglite') })
const rows = await database.db.select().from(recordings)
await database.close()
const intact = rows.filter((r) => r.status === 'stored' && r.sha256 === expectedSha).length
const storedBytes = rows.reduce((sum, r) => sum + (r.plainBytes ?? 0), 0)
const framesLost = N * SLOTS * 2 - storedBytes / 160

console.log(`streams: ${N} × ${SECONDS} s, both tracks, real time (sender fell behind ${late} times)`)
console.log(`server RSS: baseline ${(baselineRss / 2 ** 20).toFixed(0)} MiB, peak ${(peakRss / 2 ** 20).toFixed(0)} MiB, per stream ${((peakRss - baselineRss) / N / 1024).toFixed(0)} KiB`)
console.log(`server CPU: ${(cpu / wall * 100).toFixed(0)} % of one core over ${wall.toFixed(1)} s (${(cpu / wall / N * 1000).toFixed(2)} ms CPU per stream-second)`)
console.log(`recordings: ${rows.length} rows, ${intact} stored intact (sha256 of the expected audio), frames lost ${framesLost}`)
rmSync(dir, { recursive: true, force: true })
