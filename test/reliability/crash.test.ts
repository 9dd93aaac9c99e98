// A real `kill -9` of the server mid-call. The server is a child process (as `npm start` runs
// it) on 127.0.0.1 with its own data folder; the test talks to it only over HTTP and the media
// WebSocket, as Twilio and the API's users would. Restarted on the same folder (and database), it
// must find the spool file, store what it holds, and say the recording was truncated.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { WAV_HEADER_BYTES } from '../../src/recording/wav.js'
import { eventually } from '../harness/eventually.js'
import { connectStream, expectedAudio, payloadFor } from '../harness/media-streamer.js'
import { freePort } from '../harness/ports.js'
import { spawnServer, type SpawnedServer } from '../harness/spawn-server.js'
import { httpTransport, NUMBER, twilioCaller } from '../harness/twilio-caller.js'
import { freshPostgresUrl, tempDir } from '../helper.js'

const TOKEN = 'crash-twilio-auth-token-0123456789'
const ADMIN = 'crash-admin-token-0123456789abcdef'
// 5.5 s: had audio waited for a 64 KiB batch (4 s) before the encryption, as it once did, not one
// frame would have reached the disk by the kill.
const STREAM_MS = 5500

/** Every file under `dir`, recursively. */
function filesUnder (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

t.test('kill -9 mid-call: after a restart the recording is stored, truncated, at most 2 s short', async (t) => {
  const dataDir = tempDir(t)
  const spoolDir = join(dataDir, 'spool')
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const env: Record<string, string | undefined> = { DATA_DIR: dataDir, PUBLIC_URL: base, TWILIO_AUTH_TOKEN: TOKEN, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'warn', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', DATABASE_URL: undefined }
  // tap collects the coverage of child processes too, but cannot map tsx's transform back to the
  // source: it would mark lines as unrun all over src/. The in-process tests cover this code.
  env._TAPJS_PROCESSINFO_COVERAGE_ = '0'
  const databaseUrl = await freshPostgresUrl(t)
  if (databaseUrl !== null) env.DATABASE_URL = databaseUrl

  const start = async (): Promise<SpawnedServer> => {
    // tsx, as `npm start` runs it: it starts in half the time of the test's own loader.
    const child = await spawnServer(t, { port, env, loader: 'tsx', ready: { path: '/readyz' } })
    await child.ready
    return child
  }
  const api = async (method: string, path: string, body?: unknown, key = ADMIN) => {
    const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    // The API's own response schemas are checked by its tests; here only a few fields are read.
    return await res.json() as Record<string, any>
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
  const caller = twilioCaller(httpTransport(base, { publicUrl: base, token: TOKEN }), { callSid })
  const greeting = await caller.start()
  t.ok(/<Gather[^>]* action="([^"]+)"/.exec(greeting.body), 'the greeting asks for consent')
  await caller.press('1')
  const token = caller.token()
  t.ok(token, 'consent starts a stream')

  const stream = await connectStream(base, { publicUrl: base, token: TOKEN })
  if (stream === null) throw new Error('the media stream was refused')
  stream.start(callSid, token)
  await eventually('the stream admitted', async () => {
    const detail = await api('GET', `/api/calls/${callSid}`, undefined, controller)
    return detail.events.some((e: { outcome: string }) => e.outcome === 'recording-started')
  }, { timeoutMs: 5000, intervalMs: 50 })

  // Both tracks in real time, 20 ms frames, as Twilio sends them; the disk is searched for the
  // audio twice while it streams.
  const slots = STREAM_MS / 20
  const sent = expectedAudio(STREAM_MS / 1000)
  const probes: Buffer[] = []
  const holdsAudio = (file: string) => { const bytes = readFileSync(file); return probes.some((p) => bytes.includes(p)) }
  const plaintextOnDisk = () => filesUnder(spoolDir).filter(holdsAudio)
  const leaks: string[] = []
  await stream.play(0, slots, {
    pacing: 'realtime',
    tickMs: 5,
    onSlot: (slot) => {
      if (slot % 25 === 0) probes.push(payloadFor(0, slot).subarray(0, 24), sent.subarray(slot * 320, slot * 320 + 24))
      if (slot + 1 === 150 || slot + 1 === 250) leaks.push(...plaintextOnDisk())
    }
  })
  // Mid-call, with no warning: whatever was only in memory is gone.
  await server.kill('SIGKILL')
  stream.terminate()
  const parts = readdirSync(spoolDir)
  t.match(parts, [/\.part$/], 'the dead server left its spool file')
  leaks.push(...plaintextOnDisk())
  t.same(leaks, [], 'no run of the audio in any spool file, during the call or after the kill')

  server = await start()
  const stored = async () => {
    const recording: { id: string, status: string, durationMs: number, truncated: boolean } | undefined = (await api('GET', `/api/calls/${callSid}`, undefined, controller)).recordings[0]
    return recording?.status === 'stored' ? recording : undefined
  }
  // Not stored in 20 s: the assertions below say how it was left.
  const recording = await eventually('the recording stored', stored).catch(async () => (await api('GET', `/api/calls/${callSid}`, undefined, controller)).recordings[0] as Awaited<ReturnType<typeof stored>>)
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

  t.equal(await server.kill('SIGTERM'), 0, 'the restarted server shuts down cleanly')
})
