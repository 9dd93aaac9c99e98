// Two server processes share one PostgreSQL, one S3-protocol server (its own process) and one
// KMS: one call's webhooks alternate between them, the stream lands on either, links made on
// one play on the other, an opt-out taken by one is honoured by the other, and both sweepers
// racing over the same recordings delete each once.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { fakeKms } from '../fake-kms.js'
import { freshPostgresUrl } from '../helper.js'
import { installationEnv, serverProcess, startS3 } from './cluster.js'
import { eventually } from '../harness/eventually.js'
import { expectedAudio, streamOverHttp as stream } from '../harness/media-streamer.js'
import { httpPost as webhook, newSid, NUMBER, streamToken } from '../harness/twilio-caller.js'
import { api, provision } from './api-client.js'

const skip = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? 'several processes need PostgreSQL: set DATABASE_URL' : false

t.test('two processes, one database, bucket and KMS', { skip }, async (t) => {
  const [kms, s3, databaseUrl] = await Promise.all([fakeKms(t), startS3(t), freshPostgresUrl(t)])
  const shared = installationEnv({ databaseUrl: databaseUrl!, s3, kmsEndpoint: kms.endpoint, numberHashKey: randomBytes(32).toString('base64url') })
  const a = serverProcess(t, shared)
  const b = serverProcess(t, shared)
  await Promise.all([a.start(), b.start()])
  const { controller, agent, campaignId } = await provision(a.url)

  // One call, its webhooks alternating between the processes.
  const callSid = newSid()
  const caller = { CallSid: callSid, From: '+447700900601', To: NUMBER }
  const greeting = await webhook(a.url, '/twilio/voice', caller)
  t.match(greeting.body, /<Gather[^>]*action="https:\/\/voice\.callgate\.test\/twilio\/flow\?node=consent/, 'A greets and asks for consent')
  const consent = await webhook(b.url, '/twilio/flow?node=consent', { ...caller, Digits: '1' })
  const token = streamToken(consent.body)
  t.ok(token, 'B stores the consent and starts the stream')
  await stream(a.url, callSid, token!, 2)
  const menu = await webhook(a.url, '/twilio/flow?node=menu', { ...caller, Digits: '1' })
  t.match(menu.body, /<Dial[^>]*>\+442039364242<\/Dial>/, 'A continues where B left off')
  t.equal((await webhook(b.url, '/twilio/status', { ...caller, CallStatus: 'completed', CallDuration: '9' })).status, 200)

  const detail = await eventually('the recording stored', async () => {
    const r = await api<{ status: string, events: Array<{ outcome: string }>, consents: Array<{ granted: boolean }>, recordings: Array<{ id: string, status: string }> }>(b.url, 'GET', `/api/calls/${callSid}`, undefined, agent)
    // The detail's parts are read one query each: wait until the event has landed too.
    return r.json.recordings[0]?.status === 'stored' && r.json.events.some((e) => e.outcome === 'recording-stored') ? r.json : undefined
  })
  t.equal(detail.status, 'completed')
  t.same(detail.consents.map((c) => c.granted), [true], 'one consent, granted')
  t.ok(detail.events.findIndex((e) => e.outcome === 'recording-stored') > detail.events.findIndex((e) => e.outcome === 'recording-started'), 'events in order', { events: detail.events.map((e) => e.outcome) })

  // A signed link made by A plays on B: both hold the same link secret and reach the same KMS key.
  const recordingId = detail.recordings[0]!.id
  const link = await api<{ url: string }>(a.url, 'POST', `/api/recordings/${recordingId}/link`, {}, controller)
  const played = await fetch(b.url + new URL(link.json.url).pathname + new URL(link.json.url).search)
  t.equal(played.status, 200, 'played from B', { output: b.output() })
  const wav = Buffer.from(await played.arrayBuffer())
  t.same(wav.subarray(58), expectedAudio(2), 'the audio streamed to A, played from B')

  // An opt-out pressed on B is honoured when A screens: both hash numbers with the same key.
  const optout = newSid()
  const p = { CallSid: optout, From: '+447700900602', To: NUMBER }
  await webhook(b.url, '/twilio/voice', p)
  await webhook(a.url, '/twilio/flow?node=consent', { ...p, Digits: '2' })
  t.match((await webhook(b.url, '/twilio/flow?node=menu', { ...p, Digits: '9' })).body, /You will not be called again/)
  const screened = await api<{ results: Array<{ callable: boolean, reason?: string }> }>(a.url, 'POST', '/api/screen', { campaignId, numbers: ['+447700900602'] }, agent)
  t.match(screened.json.results, [{ callable: false, reason: 'suppressed' }], 'A refuses to dial the number that opted out on B')

  // More recordings, then a zero-day window: both sweepers (every second) race to delete them.
  const more = await Promise.all([0, 1, 2].map(async (i) => {
    const sid = newSid()
    const q = { CallSid: sid, From: `+44770090061${i}`, To: NUMBER }
    await webhook(i % 2 === 0 ? a.url : b.url, '/twilio/voice', q)
    const twiml = await webhook(i % 2 === 0 ? b.url : a.url, '/twilio/flow?node=consent', { ...q, Digits: '1' })
    await stream(i % 2 === 0 ? a.url : b.url, sid, streamToken(twiml.body)!, 1)
    return sid
  }))
  await eventually('all recordings stored', async () => {
    for (const sid of more) {
      const r = await api<{ recordings: Array<{ status: string }> }>(a.url, 'GET', `/api/calls/${sid}`, undefined, agent)
      if (r.json.recordings[0]?.status !== 'stored') return undefined
    }
    return true
  })
  const patched = await api(a.url, 'PATCH', `/api/campaigns/${campaignId}?recomputeRetention=true`, { retention: { recordingsDays: 0, callLogDays: 365, redactAfterDays: 30 } })
  t.equal(patched.status, 200)
  const expired = await eventually('the sweepers to delete all four recordings', async () => {
    const r = await api<{ entries: Array<{ subject: string }> }>(b.url, 'GET', '/api/audit?action=recording.expire&limit=100', undefined, controller)
    return r.json.entries.length >= 4 ? r.json.entries : undefined
  })
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const after = await api<{ entries: Array<{ subject: string }> }>(a.url, 'GET', '/api/audit?action=recording.expire&limit=100', undefined, controller)
  t.equal(after.json.entries.length, 4, 'four deletions audited, after several sweeps of both processes')
  t.equal(new Set(after.json.entries.map((e) => e.subject)).size, 4, 'each recording deleted once')
  t.equal(expired.length, 4)
  t.equal((await fetch(b.url + new URL(link.json.url).pathname + new URL(link.json.url).search)).status, 410, 'the link now answers Gone')
})
