// A real `kill -9` of the server mid-call. The server is a child process (as `npm start` runs
// it) on 127.0.0.1 with its own data folder; the test talks to it only over HTTP and the media
// WebSocket, as Twilio and the API's users would. Restarted on the same folder (and database), it
// must find the spool file, store what it holds, and say the recording was truncated.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { WebSocket } from 'ws'
import { WAV_HEADER_BYTES } from '../../src/recording/wav.js'
import { twilioSignature } from '../../src/twilio/signature.js'
import { freePort, freshPostgresUrl, tempDir } from '../helper.js'
import { payloadFor } from '../media-helpers.js'

const TOKEN = 'crash-twilio-auth-token-0123456789'
const ADMIN = 'crash-admin-token-0123456789abcdef'
// 5.5 s: had audio waited for a 64 KiB batch (4 s) before the encryption, as it once did, not one
// frame would have reached the disk by the kill.
const STREAM_MS = 5500
const NUMBER = '+442079460018'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Every file under `dir`, recursively. */
function filesUnder (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

t.test('kill -9 mid-call: after a restart the recording is stored, truncated, at most 2 s short', async (t) => {
  const dataDir = tempDir(t)
  const spoolDir = join(dataDir, 'spool')
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), PUBLIC_URL: base, TWILIO_AUTH_TOKEN: TOKEN, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'warn', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
  delete env.DATABASE_URL
  // tap collects the coverage of child processes too, but cannot map tsx's transform back to the
  // source: it would mark lines as unrun all over src/. The in-process tests cover this code.
  env._TAPJS_PROCESSINFO_COVERAGE_ = '0'
  const databaseUrl = await freshPostgresUrl(t)
  if (databaseUrl !== null) env.DATABASE_URL = databaseUrl

  const children: ChildProcess[] = []
  t.teardown(() => { for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let log = ''
  const start = async () => {
    // tsx, as `npm start` runs it: it starts in half the time of the test's own loader.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
    children.push(child)
    child.stderr!.on('data', (chunk: Buffer) => { log += chunk.toString() })
    // Up to 60 s: on a loaded 2-core machine a start has taken more than 30 s.
    for (let i = 0; i < 600 && child.exitCode === null; i++) {
      if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) return child
      await sleep(100)
    }
    throw new Error(`the server did not start:\n${log}`)
  }
  const api = async (method: string, path: string, body?: unknown, key = ADMIN) => {
    const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    // The API's own response schemas are checked by its tests; here only a few fields are read.
    return await res.json() as Record<string, any>
  }
  const webhook = async (pathAndQuery: string, params: Record<string, string>) => {
    const res = await fetch(base + pathAndQuery, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(TOKEN, base + pathAndQuery, params) }, body: new URLSearchParams(params).toString() })
    return await res.text()
  }

  let server = await start()
  const tenantId = (await api('POST', '/api/tenants', { name: 'Crash' })).id
  const allWeek = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]))
  const campaign = await api('POST', '/api/campaigns', { tenantId, name: 'Crash', timezone: 'UTC', hours: allWeek, switchboard: '+442079460000', retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 }, lawfulBasis: 'consent' })
  const flow = await api('POST', '/api/flows', { name: 'Crash', campaignId: campaign.id })
  await api('POST', `/api/flows/${flow.id}/versions`, { definition: JSON.parse(readFileSync(new URL('../../examples/reception-flow.json', import.meta.url), 'utf8')) })
  await api('POST', `/api/flows/${flow.id}/versions/1/publish`)
  await api('POST', '/api/numbers', { number: NUMBER, campaignId: campaign.id, flowId: flow.id })
  const controller = (await api('POST', '/api/users', { tenantId, role: 'controller', name: 'C', email: 'c@crash.test' })).apiKey as string

  // The caller consents: the consent node's own <Gather action> says where Twilio posts the digit.
  const callSid = 'CA' + 'c'.repeat(32)
  const call = { CallSid: callSid, From: '+447700900123', To: NUMBER }
  const greeting = await webhook('/twilio/voice', call)
  const action = /<Gather[^>]* action="([^"]+)"/.exec(greeting)?.[1]?.replaceAll('&amp;', '&')
  t.ok(action, 'the greeting asks for consent')
  const consented = await webhook(action!.slice(base.length), { ...call, Digits: '1' })
  const token = /<Parameter name="token" value="([^"]+)"/.exec(consented)?.[1]
  t.ok(token, 'consent starts a stream')

  const streamUrl = `ws://127.0.0.1:${port}/twilio/media`
  const ws = new WebSocket(streamUrl, { headers: { 'x-twilio-signature': twilioSignature(TOKEN, streamUrl, {}) } })
  ws.on('error', () => {}) // the server is about to vanish under it
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const streamSid = 'MZ' + 'c'.repeat(32)
  ws.send(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid, start: { streamSid, accountSid: 'AC' + '0'.repeat(32), callSid, tracks: ['inbound', 'outbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 }, customParameters: { token } } }))
  for (let i = 0; ; i++) {
    const detail = await api('GET', `/api/calls/${callSid}`, undefined, controller)
    if (detail.events.some((e: { outcome: string }) => e.outcome === 'recording-started')) break
    if (i > 100) throw new Error('the stream was not admitted')
    await sleep(50)
  }

  // Both tracks in real time, 20 ms frames, as Twilio sends them; the disk is searched for the
  // audio twice while it streams.
  const slots = STREAM_MS / 20
  const sent = Buffer.alloc(slots * 320)
  const probes: Buffer[] = []
  const holdsAudio = (file: string) => { const bytes = readFileSync(file); return probes.some((p) => bytes.includes(p)) }
  const plaintextOnDisk = () => filesUnder(spoolDir).filter(holdsAudio)
  const leaks: string[] = []
  const began = Date.now()
  for (let slot = 0; slot < slots;) {
    const due = Math.min(slots, Math.floor((Date.now() - began) / 20) + 1)
    for (; slot < due; slot++) {
      const [left, right] = [payloadFor(0, slot), payloadFor(1, slot)]
      for (let s = 0; s < 160; s++) { sent[slot * 320 + s * 2] = left[s]!; sent[slot * 320 + s * 2 + 1] = right[s]! }
      if (slot % 25 === 0) probes.push(left.subarray(0, 24), sent.subarray(slot * 320, slot * 320 + 24))
      for (const [track, payload] of [['inbound', left], ['outbound', right]] as const) {
        ws.send(JSON.stringify({ event: 'media', sequenceNumber: String(slot * 2 + 2), streamSid, media: { track, chunk: String(slot + 1), timestamp: String(slot * 20), payload: payload.toString('base64') } }))
      }
    }
    if (slot === 150 || slot === 250) leaks.push(...plaintextOnDisk())
    await sleep(5)
  }
  // Mid-call, with no warning: whatever was only in memory is gone.
  server.kill('SIGKILL')
  await new Promise((resolve) => server.once('exit', resolve))
  ws.terminate()
  const parts = readdirSync(spoolDir)
  t.match(parts, [/\.part$/], 'the dead server left its spool file')
  leaks.push(...plaintextOnDisk())
  t.same(leaks, [], 'no run of the audio in any spool file, during the call or after the kill')

  server = await start()
  let recording: { id: string, status: string, durationMs: number, truncated: boolean } | undefined
  for (let i = 0; i < 200; i++) {
    recording = (await api('GET', `/api/calls/${callSid}`, undefined, controller)).recordings[0]
    if (recording?.status === 'stored') break
    await sleep(100)
  }
  const sentMs = slots * 20
  t.match(recording, { status: 'stored', truncated: true }, 'stored, and marked truncated')
  t.ok(recording!.durationMs >= sentMs - 2000 && recording!.durationMs < sentMs, `${recording!.durationMs} ms of ${sentMs} ms kept`)
  t.comment(`audio lost to the crash: ${sentMs - recording!.durationMs} ms`)
  const events = (await api('GET', `/api/calls/${callSid}`, undefined, controller)).events.map((e: { outcome: string, input: string | null }) => e.outcome)
  t.ok(events.includes('recording-truncated'), 'the call log says so')

  const link = await api('POST', `/api/recordings/${recording!.id}/link`, {}, controller)
  const wav = Buffer.from(await (await fetch(link.url)).arrayBuffer())
  const audio = wav.subarray(WAV_HEADER_BYTES)
  t.equal(audio.length, recording!.durationMs * 16)
  t.ok(audio.equals(sent.subarray(0, audio.length)), 'the stored audio is exactly the start of what was sent')
  t.same(readdirSync(spoolDir), [], 'the spool is empty')
  t.same(filesUnder(join(dataDir, 's3')).filter(holdsAudio), [], 'the bucket holds ciphertext only')

  server.kill('SIGTERM')
  t.equal(await new Promise((resolve) => server.once('exit', resolve)), 0, 'the restarted server shuts down cleanly')
})
