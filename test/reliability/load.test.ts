// Load while faults happen: two processes behind a stand-in load balancer take a steady stream
// of calls (webhooks at RATE requests/s, STREAMS live media streams at any time) while both
// sweepers delete recordings as they are stored (a zero-day window); one process is killed
// with SIGKILL a third of the way in and restarted half way. Afterwards the database must hold:
// no 5xx from a process that was up, no call with a broken event sequence, no confirmed opt-out
// without its suppression, no recording without consent, every consented stream stored.
// Defaults fit CI; RELIABILITY_LOAD_SECONDS=60 RELIABILITY_LOAD_RATE=200 RELIABILITY_LOAD_STREAMS=50
// is the full-size run.
import { randomBytes } from 'node:crypto'
import { and, eq, inArray } from 'drizzle-orm'
import t from 'tap'
import { openDatabase } from '../../src/db/client.js'
import { callEvents, calls, consents, recordings, suppressions } from '../../src/db/schema.js'
import { hashNumber } from '../../src/privacy/number-hash.js'
import { fakeKms } from '../fake-kms.js'
import { freshPostgresUrl } from '../helper.js'
import { installationEnv, serverProcess, startS3, type ServerProcess } from './cluster.js'
import { eventually } from '../harness/eventually.js'
import { streamOverHttp } from '../harness/media-streamer.js'
import { httpPost, twilioCaller, type Reply, type TwilioTransport } from '../harness/twilio-caller.js'
import { PUBLIC_URL } from '../helper.js'
import { provision } from './api-client.js'

const SECONDS = Number(process.env.RELIABILITY_LOAD_SECONDS ?? 30)
const RATE = Number(process.env.RELIABILITY_LOAD_RATE ?? 100)
const STREAMS = Number(process.env.RELIABILITY_LOAD_STREAMS ?? 20)
const STREAM_SECONDS = 6

const skip = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? 'several processes need PostgreSQL: set DATABASE_URL' : false

interface Tally { served: number, errors5xx: number, refused: number }

t.test(`load with a process killed: ${RATE} req/s, ${STREAMS} streams, ${SECONDS} s`, { skip, timeout: (SECONDS + 120) * 1000 }, async (t) => {
  const [kms, s3, databaseUrl] = await Promise.all([fakeKms(t), startS3(t), freshPostgresUrl(t)])
  const numberHashKey = randomBytes(32).toString('base64url')
  const shared = installationEnv({ databaseUrl: databaseUrl!, s3, kmsEndpoint: kms.endpoint, numberHashKey })
  const a = serverProcess(t, shared)
  const b = serverProcess(t, shared)
  await Promise.all([a.start(), b.start()])
  await provision(a.url, { recordingsDays: 0, callLogDays: 365, redactAfterDays: 30 })

  // The load balancer: a random process that is up; a refused connection is retried on another.
  const up = new Set<ServerProcess>([a, b])
  const tally = new Map<ServerProcess, Tally>([[a, { served: 0, errors5xx: 0, refused: 0 }], [b, { served: 0, errors5xx: 0, refused: 0 }]])
  const killWindow = { from: Infinity, to: Infinity }
  const pick = (): ServerProcess => { const live = [...up]; return live[Math.floor(Math.random() * live.length)]! }
  async function post (path: string, params: Record<string, string>): Promise<Reply> {
    for (let attempt = 0; ; attempt++) {
      const server = pick()
      try {
        const reply = await httpPost(server.url, path, params)
        const counts = tally.get(server)!
        counts.served++
        if (reply.status >= 500) counts.errors5xx++
        return reply
      } catch (err) {
        tally.get(server)!.refused++
        // Only the killed process may fail a request: one in flight when it died, or sent before
        // the balancer noticed. Twilio would retry such a request; here it goes to the other one.
        if (server !== b || Date.now() < killWindow.from) throw err
        if (attempt > 20) throw err
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }
  const balancer: TwilioTransport = { publicUrl: PUBLIC_URL, post }

  interface CallResult { sid: string, from: string, consented: boolean, optedOut: boolean, streamed: { slots: number, cut: boolean, startedAt: number, to: ServerProcess } | null }
  const results: CallResult[] = []
  let n = 0
  async function call (withStream: boolean): Promise<void> {
    const i = n++
    const sid = 'CA' + (0xa0000000 + i).toString(16).padStart(32, '0')
    const from = `+4477009${String(10000 + i).slice(-5)}`
    const result: CallResult = { sid, from, consented: false, optedOut: false, streamed: null }
    results.push(result)
    // Each next request goes to the action URL the previous answer named, as Twilio does.
    const caller = twilioCaller(balancer, { callSid: sid, from })
    await caller.start()
    await caller.press(withStream ? '1' : '2')
    const token = caller.token()
    result.consented = token !== undefined
    if (token !== undefined) {
      const to = pick()
      result.streamed = { ...await streamOverHttp(to.url, sid, token, STREAM_SECONDS), to }
    }
    const optout = i % 5 === 0
    const menu = await caller.press(optout ? '9' : '1')
    result.optedOut = /You will not be called again/.test(menu.body)
    await caller.status('completed', '10')
  }

  const started = Date.now()
  const end = started + SECONDS * 1000
  const running = new Set<Promise<void>>()
  // A call that fails outright (a request no process answered) is counted, never left unhandled.
  const failures: string[] = []
  const settled = (p: Promise<void>) => p.catch((err: unknown) => { failures.push(String(err)) })
  const track = (p: Promise<void>) => { const q = settled(p); running.add(q); void q.finally(() => running.delete(q)) }
  // Streaming calls: keep STREAMS of them going.
  const streamers = Array.from({ length: STREAMS }, async (_, k) => {
    await new Promise((resolve) => setTimeout(resolve, (k * STREAM_SECONDS * 1000) / STREAMS))
    while (Date.now() < end) await settled(call(true))
  })
  // Short calls fill the rest of the webhook rate (4 requests each).
  const filler = (async () => {
    let sent = 0
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - started) / 1000) * (RATE / 4)) - sent
      for (let k = 0; k < due; k++, sent++) track(call(false))
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()
  // The fault: B is killed a third of the way in and restarted half way.
  const fault = (async () => {
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000 / 3))
    killWindow.from = Date.now()
    up.delete(b)
    await b.kill('SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000 / 6))
    await b.start()
    killWindow.to = Date.now()
    up.add(b)
  })()
  await Promise.all([...streamers, filler, fault])
  await Promise.all([...running])
  const wall = (Date.now() - started) / 1000
  t.same(failures, [], 'every call got an answer to every request')

  const database = await openDatabase({ url: databaseUrl!, pgliteDir: '' })
  t.teardown(() => database.close())
  const { db } = database
  const sids = results.map((r) => r.sid)

  // Every consented stream ends up stored (and then, with a zero-day window, deleted by a sweeper).
  const streamed = results.filter((r) => r.streamed !== null && r.streamed.slots > 0)
  const rows = await eventually('every streamed recording stored', async () => {
    const found = await db.select().from(recordings).where(inArray(recordings.callSid, streamed.map((r) => r.sid)))
    // Settled: nothing left recording or waiting in a spool (a cut stream may end up failed).
    return found.length >= streamed.length && found.every((r) => ['stored', 'deleted', 'failed'].includes(r.status)) ? found : undefined
  }, { timeoutMs: 45_000 }).catch(async () => await db.select().from(recordings).where(inArray(recordings.callSid, streamed.map((r) => r.sid))))
  const bySid = new Map(rows.map((r) => [r.callSid, r]))
  // A stream cut by the kill after less audio than a crash may lose has nothing to store: its
  // recovery marks it failed (and truncated); the loss bound below covers it.
  // Under load the killed process may not even have written the row yet (it lags behind its
  // socket): nothing of that stream was persisted, and the loss bound below still applies to it.
  const lostAll = (r: CallResult) => r.streamed!.cut && (bySid.get(r.sid) === undefined || (bySid.get(r.sid)?.status === 'failed' && bySid.get(r.sid)?.truncated === true))
  const notStored = streamed.filter((r) => !['stored', 'deleted'].includes(bySid.get(r.sid)?.status ?? 'missing') && !lostAll(r))
  const where = (r: CallResult) => `${r.streamed!.to === a ? 'A' : 'B'}, ${r.streamed!.slots} slots${r.streamed!.cut ? ', cut' : ''}`
  t.same(notStored.map((r) => `${r.sid}: ${bySid.get(r.sid)?.status ?? 'missing'} (${where(r)})`), [], 'every consented stream stored', { A: a.output().slice(-3000), B: b.output().slice(-3000) })

  // No recording without granted consent, across everything the processes stored.
  const all = await db.select({ callId: recordings.callId, callSid: recordings.callSid }).from(recordings)
  const granted = new Set((await db.select({ callId: consents.callId }).from(consents).where(eq(consents.granted, true))).map((c) => c.callId))
  const withoutConsent = all.filter((r) => r.callId === null || !granted.has(r.callId))
  t.equal(withoutConsent.length, 0, 'recordings without consent: 0')

  // Every confirmed opt-out is stored.
  const hashes = new Set((await db.select({ h: suppressions.numberHash }).from(suppressions)).map((s) => s.h))
  const confirmed = results.filter((r) => r.optedOut)
  const lost = confirmed.filter((r) => !hashes.has(hashNumber(numberHashKey, r.from)))
  t.equal(lost.length, 0, `opt-outs lost: 0 of ${confirmed.length} confirmed`)
  t.ok(confirmed.length > 0, 'some callers opted out')

  // Every completed call's events form one unbroken sequence, each step applied once.
  const callRows = await db.select({ id: calls.id, sid: calls.callSid, status: calls.status, stepSeq: calls.stepSeq }).from(calls).where(inArray(calls.callSid, sids))
  const events = await db.select({ callId: callEvents.callId, seq: callEvents.seq, outcome: callEvents.outcome }).from(callEvents).where(inArray(callEvents.callId, callRows.map((c) => c.id)))
  const seqs = new Map<string, number[]>()
  for (const e of events) seqs.set(e.callId, [...(seqs.get(e.callId) ?? []), e.seq])
  const broken = callRows.filter((c) => {
    const s = (seqs.get(c.id) ?? []).sort((x, y) => x - y)
    return s.length === 0 || s.some((v, k) => v !== k + 1)
  })
  t.same(broken.map((c) => c.sid), [], 'event sequences unbroken')
  const consentCounts = new Map<string, number>()
  for (const c of await db.select({ callId: consents.callId }).from(consents)) consentCounts.set(c.callId, (consentCounts.get(c.callId) ?? 0) + 1)
  t.same(callRows.filter((c) => (consentCounts.get(c.id) ?? 0) > 1).map((c) => c.sid), [], 'consent recorded once per call')
  const completed = callRows.filter((c) => c.status === 'completed').length
  t.equal(completed, results.length, 'every call completed')

  const survivor = tally.get(a)!
  t.equal(survivor.errors5xx, 0, 'no 5xx from the surviving process')
  t.equal(tally.get(b)!.errors5xx, 0, 'none from the restarted one either')
  t.equal(survivor.refused, 0, 'the surviving process never refused a connection')

  const cut = streamed.filter((r) => r.streamed!.cut)
  // Frames the sender wrote after the SIGKILL never had a process to reach (the sender notices
  // the closed socket only when its loaded event loop gets to it): a slot due after the kill is
  // not counted as sent. Frames written before it and still in socket buffers are counted.
  const sentBeforeKill = (s: NonNullable<CallResult['streamed']>) => Math.max(0, Math.min(s.slots, Math.ceil((killWindow.from - s.startedAt) / 20)))
  const lostMs = cut.map((r) => sentBeforeKill(r.streamed!) * 20 - (bySid.get(r.sid)?.durationMs ?? 0))
  const truncated = await db.select({ id: recordings.id }).from(recordings).where(and(inArray(recordings.callSid, cut.map((r) => r.sid)), eq(recordings.truncated, true)))
  t.comment(`${wall.toFixed(0)} s: ${results.length} calls, ${streamed.length} streamed (${cut.length} cut by the kill, ${truncated.length} recovered as truncated, ${cut.filter(lostAll).length} of them with nothing left to store)`)
  t.comment(`requests: A served ${survivor.served} (5xx ${survivor.errors5xx}); B served ${tally.get(b)!.served} (5xx ${tally.get(b)!.errors5xx}), refused ${tally.get(b)!.refused} while down (retried on A)`)
  t.comment(`audio lost per cut stream (ms sent before the kill − ms stored): ${lostMs.join(', ') || 'none'}`)
  t.comment(`opt-outs confirmed ${confirmed.length}, lost ${lost.length}; recordings without consent ${withoutConsent.length}`)
  // The server holds at most 2 s it has received (test/reliability/crash.test.ts); under load, up
  // to another ~second of frames is still in socket buffers, or queued unread, at the kill.
  t.ok(lostMs.every((ms) => ms <= 3000), 'a kill loses at most 3 s of each live stream, in flight included')
})
