// The event outbox (issue 20): what it costs the webhook path, how fast it delivers, and how a
// backlog drains after an endpoint's outage. Every server is src/server.ts in its own process on a
// fresh database of DATABASE_URL's cluster (created here, dropped at the end); the receiver of the
// events is an HTTP server in this process on 127.0.0.1, counting each webhook-id it answers 200.
// Calls are whole signed calls: voice → consent digit 1 → menu digit 1 → status completed, which
// emit call.started, consent.recorded and call.completed (3 events, so 3 deliveries to one endpoint).
//   cost        phases, twice each in turn, of --phase-seconds of calls at --rate calls/s (paced,
//               open loop): `before` (a server of the --root checkout, from before the outbox, on
//               its own database; only with --root), `without` (no endpoint: the events are
//               written, no delivery owed), `with, delivered elsewhere` (an endpoint for ["*"]: the
//               deliveries written too, POSTed by another server process), `with, delivered here`
//               (the server taking the webhooks also delivers). CPU ms per webhook request of the
//               process taking them (/proc/PID/stat over the phase and until nothing is pending,
//               + 0.5 s), p50/p99, events delivered, pending at the end
//   throughput  a backlog of --backlog deliveries made with delivery off (WEBHOOK_INTERVAL_MS=0,
//               calls closed loop), the server stopped, then delivered by 1 and by 2 worker
//               processes (bench/events-worker.ts, the server's deliverer and pump) at once: events/s,
//               webhook-ids seen twice
//   drain       a delivering server (WEBHOOK_INTERVAL_MS=1000), the receiver answering 503 for
//               --outage-seconds while calls arrive at 200 a minute; then it answers 200 and no
//               more calls come: seconds until nothing is pending, the backlog then, attempts made
//
//   DATABASE_URL=postgres://… npx tsx bench/events.ts [--phase-seconds 20] [--rate 50] [--backlog 6000]
//                                                     [--outage-seconds 600] [--log-level info] [--root DIR]
//   BENCH_SECTIONS=cost,throughput,drain picks the sections. Nothing leaves 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { Agent, createServer as createHttpServer, request, type Server } from 'node:http'
import { createServer } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { twilioSignature } from '../src/twilio/signature.js'

const ROOT = new URL('../', import.meta.url).pathname
const PUBLIC_URL = 'https://bench.callgate.test'
const TWILIO_TOKEN = 'bench-twilio-auth-token-0123456789abcdef'
const ADMIN_TOKEN = 'bench-admin-token-' + 'x'.repeat(32)
const NUMBER = '+442079460018'
const FORM = 'application/x-www-form-urlencoded'
const EVENTS_PER_CALL = 3

const { values: opts } = parseArgs({
  options: {
    'phase-seconds': { type: 'string', default: '20' },
    rate: { type: 'string', default: '50' },
    backlog: { type: 'string', default: '6000' },
    'outage-seconds': { type: 'string', default: '600' },
    'log-level': { type: 'string', default: 'info' },
    root: { type: 'string' }
  }
})
const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------- calls

interface Req { path: string, body: string, signature: string, expect: string }

let prefixN = 0
/** The four signed requests of one call and what each reply must contain. */
function signedCall (i: number): Req[] {
  const prefix = (prefixN.toString(16) + randomBytes(4).toString('hex')).slice(0, 8)
  const base = { CallSid: 'CA' + prefix + i.toString(16).padStart(24, '0'), From: `+4477009${String(i % 100000).padStart(5, '0')}`, To: NUMBER, Direction: 'inbound' }
  const steps: Array<[string, Record<string, string>, string]> = [
    ['/twilio/voice', base, 'node=consent&amp;step=1'],
    ['/twilio/flow?node=consent&step=1', { ...base, Digits: '1' }, 'node=menu&amp;step=2'],
    ['/twilio/flow?node=menu&step=2', { ...base, Digits: '1' }, 'node=sales&amp;step=3'],
    ['/twilio/status', { ...base, CallStatus: 'completed', CallDuration: '42' }, '<Response']
  ]
  return steps.map(([path, params, expect]) => ({ path, body: new URLSearchParams(params).toString(), signature: twilioSignature(TWILIO_TOKEN, PUBLIC_URL + path, params), expect }))
}

/** A source of fresh calls (CallSids never repeat within a run). */
function callSource () {
  prefixN++
  let i = 0
  return () => signedCall(i++)
}

interface Sent { latencies: number[], requests: number, failures: number, failureSamples: string[], calls: number }

function sender (url: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 512 })
  const target = new URL(url)
  const sent: Sent = { latencies: [], requests: 0, failures: 0, failureSamples: [], calls: 0 }
  const fail = (what: string) => {
    sent.failures++
    if (sent.failureSamples.length < 5) sent.failureSamples.push(what.slice(0, 300))
  }
  const post = async (r: Req): Promise<void> => await new Promise((resolve) => {
    const started = performance.now()
    const req = request({ agent, host: target.hostname, port: target.port, method: 'POST', path: r.path, headers: { 'content-type': FORM, 'x-twilio-signature': r.signature, 'content-length': Buffer.byteLength(r.body) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        sent.latencies.push(performance.now() - started)
        sent.requests++
        const body = Buffer.concat(chunks).toString()
        if (res.statusCode !== 200) fail(`${res.statusCode} ${r.path}: ${body}`)
        else if (!body.includes(r.expect) || body.includes('Sorry')) fail(`${r.path}: ${body}`)
        resolve()
      })
    })
    req.on('error', (err) => { fail(`${r.path}: ${err.message}`); resolve() })
    req.end(r.body)
  })
  const runCall = async (call: Req[]) => {
    sent.calls++
    for (const r of call) await post(r)
  }
  return { sent, runCall, close: () => agent.destroy() }
}

/** Calls evenly spaced at `rate` a second for `seconds` (open loop), each posting its requests in turn. */
async function paced (url: string, next: () => Req[], rate: number, seconds: number): Promise<Sent> {
  const s = sender(url)
  const inFlight = new Set<Promise<void>>()
  const began = performance.now()
  let started = 0
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - began
      if (elapsed >= seconds * 1000) {
        clearInterval(tick)
        resolve()
        return
      }
      for (const due = Math.floor(elapsed * rate / 1000); started < due; started++) {
        const p = s.runCall(next())
        inFlight.add(p)
        void p.then(() => inFlight.delete(p))
      }
    }, 1)
  })
  await Promise.all(inFlight)
  s.close()
  return s.sent
}

/** `calls` calls, `connections` at a time, each starting the next as soon as one ends (closed loop). */
async function closedLoop (url: string, next: () => Req[], calls: number, connections: number): Promise<Sent> {
  const s = sender(url)
  let left = calls
  await Promise.all(Array.from({ length: connections }, async () => {
    while (left > 0) {
      left--
      await s.runCall(next())
    }
  }))
  s.close()
  return s.sent
}

const percentile = (sorted: Float64Array, q: number) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
function latency (sent: Sent) {
  const sorted = Float64Array.from(sent.latencies).sort()
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
}
function checkSent (what: string, sent: Sent): void {
  if (sent.failures === 0) return
  console.log(`${what}: ${sent.failures} failed requests`)
  for (const f of sent.failureSamples) console.log(`  failure: ${f}`)
  process.exitCode = 1
}

// ---------------------------------------------------------------- the receiver

/** Standard Webhooks receiver stand-in: answers `status` at once, counts what it answered 2xx by webhook-id. */
async function startReceiver () {
  const state = { status: 200, requests: 0, seen: new Map<string, number>() }
  const server: Server = createHttpServer((req, res) => {
    state.requests++
    const id = String(req.headers['webhook-id'] ?? '')
    const status = state.status
    req.resume()
    req.on('end', () => {
      if (status >= 200 && status < 300) state.seen.set(id, (state.seen.get(id) ?? 0) + 1)
      res.writeHead(status, { 'content-length': 0 })
      res.end()
    })
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/events`,
    state,
    reset: () => { state.requests = 0; state.seen = new Map() },
    delivered: () => state.seen.size,
    duplicates: () => [...state.seen.values()].reduce((sum, n) => sum + n - 1, 0),
    close: async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) }
  }
}

// ---------------------------------------------------------------- servers and databases

function cpuSeconds (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    }).on('error', reject)
  })
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGINT')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

interface Running { url: string, pid: number, dataDir: string, stop (): Promise<void> }

async function startServer (work: string, name: string, databaseUrl: string, intervalMs: number, o: { root?: string, keysOf?: Running } = {}): Promise<Running> {
  const port = await freePort()
  const log = join(work, `${name}.log`)
  const out = openSync(log, 'a')
  const dataDir = mkdtempSync(join(work, `${name}-data-`))
  // A second process on the same database needs the first one's keys (see README, Scaling out).
  if (o.keysOf !== undefined) {
    cpSync(join(o.keysOf.dataDir, 'secrets.json'), join(dataDir, 'secrets.json'))
    cpSync(join(o.keysOf.dataDir, 'keyring'), join(dataDir, 'keyring'), { recursive: true })
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL,
    TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
    ADMIN_TOKEN,
    LOG_LEVEL: opts['log-level'],
    DATABASE_URL: databaseUrl,
    WEBHOOK_INTERVAL_MS: String(intervalMs),
    WEBHOOK_ALLOW_PRIVATE: 'true'
  }
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: o.root ?? ROOT, env, stdio: ['ignore', out, out] })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (await fetch(`${url}/healthz`).then((r) => r.status < 500, () => false)) break
    if (child.exitCode !== null) throw new Error(`server exited at start; see ${log}`)
    if (i > 1200) throw new Error(`server did not start in 120 s; see ${log}`)
    await sleep(100)
  }
  return { url, pid: child.pid!, dataDir, stop: async () => { await stopChild(child) } }
}

async function api<T> (url: string, method: string, path: string, body?: object): Promise<T> {
  const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return res.status === 204 ? undefined as T : await res.json() as T
}

/** Tenant, campaign open around the clock, the example reception flow published, the number bound to it; returns the tenant. */
async function provision (url: string): Promise<string> {
  const post = async (path: string, body?: object) => await api<{ id: string }>(url, 'POST', path, body)
  const tenantId = (await post('/api/tenants', { name: 'Bench' })).id
  const campaign = await post('/api/campaigns', {
    tenantId,
    name: 'Bench',
    timezone: 'UTC',
    hours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]])),
    switchboard: '+442079460000',
    retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 },
    lawfulBasis: 'consent'
  })
  const flow = await post('/api/flows', { name: 'Bench', campaignId: campaign.id })
  await post(`/api/flows/${flow.id}/versions`, { definition: JSON.parse(readFileSync(join(ROOT, 'examples/reception-flow.json'), 'utf8')) })
  await post(`/api/flows/${flow.id}/versions/1/publish`)
  await post('/api/numbers', { number: NUMBER, campaignId: campaign.id, flowId: flow.id })
  return tenantId
}

const registerEndpoint = async (url: string, tenantId: string, receiver: string) =>
  await api<{ id: string, secret: string }>(url, 'POST', '/api/webhooks', { url: receiver, events: ['*'], tenantId })

async function freshPostgres (base: string) {
  const name = `bench_events_${randomBytes(4).toString('hex')}`
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  const url = new URL(base)
  url.pathname = `/${name}`
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
  return {
    url: url.toString(),
    sql,
    /** The outbox as the database has it (one query, read in this process). */
    counts: async () => {
      const [row] = await sql<Array<{ pending: string, delivered: string, attempts: string, events: string }>>`
        select (select count(*) from webhook_deliveries where status = 'pending') as pending,
               (select count(*) from webhook_deliveries where status = 'delivered') as delivered,
               (select coalesce(sum(attempts), 0) from webhook_deliveries) as attempts,
               (select count(*) from events) as events`
      return { pending: Number(row!.pending), delivered: Number(row!.delivered), attempts: Number(row!.attempts), events: Number(row!.events) }
    },
    drop: async () => {
      await sql.end({ timeout: 5 })
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end()
    }
  }
}
type Pg = Awaited<ReturnType<typeof freshPostgres>>

/** Polls until nothing is pending; returns the seconds it took (null: not within `limitMs`). */
async function untilNothingPending (pg: Pg, limitMs: number, everyMs = 100): Promise<number | null> {
  const began = performance.now()
  for (;;) {
    if ((await pg.counts()).pending === 0) return (performance.now() - began) / 1000
    if (performance.now() - began > limitMs) return null
    await sleep(everyMs)
  }
}

// ---------------------------------------------------------------- 1. cost per webhook step

async function cost (work: string, base: string, receiver: Awaited<ReturnType<typeof startReceiver>>): Promise<void> {
  const seconds = Number(opts['phase-seconds'])
  const rate = Number(opts.rate)
  const pg = await freshPostgres(base)
  // Two servers of this tree on one database: `quiet` never delivers (its CPU is the webhook
  // steps' and the outbox rows they write), `here` delivers (its CPU adds the POSTs).
  const quiet = await startServer(work, 'cost-quiet', pg.url, 0)
  const here = await startServer(work, 'cost-here', pg.url, 100, { keysOf: quiet })
  const root = opts.root
  const beforePg = root === undefined ? null : await freshPostgres(base)
  const before = beforePg === null ? null : await startServer(work, 'cost-before', beforePg.url, 0, { root })
  type Phase = 'before' | 'without' | 'with, delivered elsewhere' | 'with, delivered here'
  const phases: Phase[] = [...(before === null ? [] : ['before' as const]), 'without', 'with, delivered elsewhere', 'with, delivered here']
  const rows: Array<{ phase: Phase, requests: number, cpuMs: number, p50: number, p99: number, written: number, delivered: number | null, pending: number, failures: number }> = []
  try {
    const tenantId = await provision(quiet.url)
    if (before !== null) await provision(before.url)
    const next = callSource()
    // Warm-up of each server: JIT, pools, the tenant's key (its first delivery).
    const warm = await registerEndpoint(quiet.url, tenantId, receiver.url)
    for (const server of [quiet, here, ...(before === null ? [] : [before])]) checkSent('warm-up', await paced(server.url, next, rate, 3))
    await untilNothingPending(pg, 30_000)
    await api(quiet.url, 'DELETE', `/api/webhooks/${warm.id}`)
    for (const phase of [...phases, ...phases]) {
      const server = phase === 'before' ? before! : phase === 'with, delivered here' ? here : quiet
      const db = phase === 'before' ? beforePg! : pg
      const endpoint = phase !== 'before' && phase !== 'without' ? await registerEndpoint(quiet.url, tenantId, receiver.url) : null
      receiver.reset()
      const counted = phase === 'before' ? null : await db.counts()
      const cpu0 = cpuSeconds(server.pid)
      const sent = await paced(server.url, next, rate, seconds)
      // The tail: until every delivery is made (none are owed without an endpoint), then 0.5 s more in every phase.
      const drained = phase === 'before' ? 0 : await untilNothingPending(pg, 60_000)
      await sleep(500)
      const cpu = cpuSeconds(server.pid) - cpu0
      const after = phase === 'before' ? null : await db.counts()
      checkSent(`cost, ${phase}`, sent)
      const { p50, p99 } = latency(sent)
      const written = after === null || counted === null ? 0 : after.events - counted.events
      rows.push({ phase, requests: sent.requests, cpuMs: cpu * 1000, p50, p99, written, delivered: endpoint !== null ? receiver.delivered() : null, pending: after?.pending ?? 0, failures: sent.failures })
      console.log(`cost ${phase}: ${sent.calls} calls, ${sent.requests} requests, CPU ${(cpu * 1000).toFixed(0)} ms, tail until nothing pending ${drained?.toFixed(2) ?? 'timed out'} s, events written ${written}, delivered ${receiver.delivered()} (duplicates ${receiver.duplicates()}), pending ${after?.pending ?? 0}`)
      if (endpoint !== null) await api(quiet.url, 'DELETE', `/api/webhooks/${endpoint.id}`)
    }
  } finally {
    await Promise.all([quiet.stop(), here.stop(), before?.stop()])
    await pg.drop()
    await beforePg?.drop()
  }
  console.log(`\n### 1. Outbox cost per webhook step (${rate} calls/s × ${seconds} s a phase, 4 requests a call; the CPU of the process that took the webhooks)\n`)
  console.log('| phase | requests | server CPU ms/req | p50 ms | p99 ms | events written | events delivered | pending at end | failures |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.phase} | ${r.requests} | ${(r.cpuMs / r.requests).toFixed(3)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.phase === 'before' ? '—' : r.written} | ${r.delivered ?? '—'} | ${r.pending} | ${r.failures} |`)
  const mean = (phase: Phase) => {
    const of = rows.filter((r) => r.phase === phase)
    return of.reduce((s, r) => s + r.cpuMs, 0) / of.reduce((s, r) => s + r.requests, 0)
  }
  const base0 = before === null ? 'without' : 'before'
  console.log('')
  for (const phase of phases) {
    const ratio = mean(phase) / mean(base0)
    console.log(`${phase}: ${mean(phase).toFixed(3)} ms a request, ÷ ${base0} ${ratio.toFixed(3)} (${((ratio - 1) * 100).toFixed(1)} %)`)
  }
}

// ---------------------------------------------------------------- 2. delivery throughput

async function throughput (work: string, base: string, receiver: Awaited<ReturnType<typeof startReceiver>>): Promise<void> {
  const backlog = Number(opts.backlog)
  const pg = await freshPostgres(base)
  const rows: Array<{ processes: number, events: number, seconds: number, perSecond: number, duplicates: number, cpuMsPerEvent: number, attempts: number }> = []
  try {
    const server = await startServer(work, 'fill', pg.url, 0)
    let tenantId: string
    let dataDir: string
    try {
      tenantId = await provision(server.url)
      dataDir = server.dataDir
      await registerEndpoint(server.url, tenantId, receiver.url)
      const next = callSource()
      const began = performance.now()
      const sent = await closedLoop(server.url, next, Math.ceil(backlog / EVENTS_PER_CALL), 16)
      checkSent('backlog', sent)
      console.log(`backlog: ${sent.calls} calls (${sent.requests} requests) in ${((performance.now() - began) / 1000).toFixed(1)} s, closed loop, delivery off`)
    } finally {
      await server.stop()
    }
    const filled = await pg.counts()
    console.log(`backlog: ${filled.pending} deliveries pending, ${filled.events} events`)
    for (const processes of [1, 2]) {
      // The same backlog again for each run: every delivery pending and due, as the fill left it.
      await pg.sql`update webhook_deliveries set status = 'pending', attempts = 0, delivered_at = null, lease_until = null, last_status = null, last_error = null, next_attempt_at = created_at`
      const owed = (await pg.counts()).pending
      receiver.reset()
      const workers = await Promise.all(Array.from({ length: processes }, async (_, n) => await startWorker(work, `worker-${processes}-${n}`, pg.url, dataDir, tenantId)))
      const cpu0 = workers.map((w) => cpuSeconds(w.pid))
      const began = performance.now()
      for (const w of workers) w.start()
      while (receiver.delivered() < owed && performance.now() - began < 300_000) await sleep(10)
      const seconds = (performance.now() - began) / 1000
      const cpu = workers.reduce((sum, w, i) => sum + cpuSeconds(w.pid) - cpu0[i]!, 0)
      const totals = await Promise.all(workers.map(async (w) => await w.stop()))
      const after = await pg.counts()
      const row = { processes, events: receiver.delivered(), seconds, perSecond: receiver.delivered() / seconds, duplicates: receiver.duplicates(), cpuMsPerEvent: cpu * 1000 / receiver.delivered(), attempts: after.attempts }
      rows.push(row)
      console.log(`throughput, ${processes} process(es): ${row.events} of ${owed} delivered in ${seconds.toFixed(2)} s, ${row.perSecond.toFixed(0)}/s, duplicates ${row.duplicates}, pending after ${after.pending}, workers' totals ${JSON.stringify(totals)}`)
      if (row.events < owed || after.pending > 0) process.exitCode = 1
    }
  } finally {
    await pg.drop()
  }
  console.log(`\n### 2. Delivery throughput (a backlog of ${rows[0]?.events ?? '?'} deliveries to one endpoint, receiver answering 200 at once)\n`)
  console.log('| delivering processes | events delivered | seconds | events/s | worker CPU ms/event | duplicates | attempts |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.processes} | ${r.events} | ${r.seconds.toFixed(2)} | ${r.perSecond.toFixed(0)} | ${r.cpuMsPerEvent.toFixed(3)} | ${r.duplicates} | ${r.attempts} |`)
}

async function startWorker (work: string, name: string, databaseUrl: string, dataDir: string, tenantId: string) {
  const out = openSync(join(work, `${name}.log`), 'a')
  const child = spawn(process.execPath, [...(process.env.BENCH_WORKER_PROF !== undefined ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_WORKER_PROF] : []), '--import', 'tsx', 'bench/events-worker.ts'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, DATA_DIR: dataDir, BENCH_TENANT: tenantId, WEBHOOK_INTERVAL_MS: '50', WEBHOOK_ALLOW_PRIVATE: 'true' },
    stdio: ['ignore', out, out, 'ipc']
  })
  const messages: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  child.on('message', (m: Record<string, unknown>) => { messages.push(m); waiters.splice(0).forEach((w) => w()) })
  const waitFor = async (key: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const m = messages.find((x) => key in x)
      if (m !== undefined) return m
      if (child.exitCode !== null) throw new Error(`${name} exited; see ${work}/${name}.log`)
      await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 200) })
    }
  }
  await waitFor('ready')
  return {
    pid: child.pid!,
    start: () => child.send({ start: true }),
    stop: async () => {
      child.send({ stop: true })
      const { totals } = await waitFor('totals')
      await stopChild(child)
      return totals
    }
  }
}

// ---------------------------------------------------------------- 3. backlog drain after an outage

async function drain (work: string, base: string, receiver: Awaited<ReturnType<typeof startReceiver>>): Promise<void> {
  const outage = Number(opts['outage-seconds'])
  const callsPerMinute = 200
  const pg = await freshPostgres(base)
  const server = await startServer(work, 'drain', pg.url, 1000)
  let result: { calls: number, backlog: number, attemptsDown: number, seconds: number | null, attempts: number, receiverRequests: number, delivered: number, duplicates: number }
  try {
    const tenantId = await provision(server.url)
    await registerEndpoint(server.url, tenantId, receiver.url)
    receiver.reset()
    receiver.state.status = 503
    const sent = await paced(server.url, callSource(), callsPerMinute / 60, outage)
    checkSent('drain, calls during the outage', sent)
    const down = await pg.counts()
    receiver.state.status = 200
    const requestsDown = receiver.state.requests
    const seconds = await untilNothingPending(pg, 3_700_000, 250)
    const after = await pg.counts()
    result = { calls: sent.calls, backlog: down.pending, attemptsDown: requestsDown, seconds, attempts: after.attempts, receiverRequests: receiver.state.requests, delivered: receiver.delivered(), duplicates: receiver.duplicates() }
    console.log(`drain: ${JSON.stringify(result)}`)
    if (seconds === null || after.pending > 0) process.exitCode = 1
  } finally {
    await server.stop()
    await pg.drop()
  }
  console.log(`\n### 3. Backlog drain after an outage (receiver answering 503 for ${outage} s while ${callsPerMinute} calls/min arrive; server WEBHOOK_INTERVAL_MS=1000; no calls after it is back)\n`)
  console.log('| calls in the outage | pending when the receiver is back | attempts during the outage | seconds until nothing pending | events delivered | duplicates | attempts in all (database) | requests at the receiver |')
  console.log('|---|---|---|---|---|---|---|---|')
  console.log(`| ${result.calls} | ${result.backlog} | ${result.attemptsDown} | ${result.seconds?.toFixed(1) ?? 'not drained'} | ${result.delivered} | ${result.duplicates} | ${result.attempts} | ${result.receiverRequests} |`)
}

// ---------------------------------------------------------------- main

async function main (): Promise<void> {
  const base = process.env.DATABASE_URL
  if (base === undefined) throw new Error('bench/events.ts needs DATABASE_URL (a PostgreSQL cluster where it may create databases)')
  const sections = (process.env.BENCH_SECTIONS ?? 'cost,throughput,drain').split(',')
  const cpu = cpus()
  console.log(`machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`sections ${sections.join(',')}; --phase-seconds ${opts['phase-seconds']} --rate ${opts.rate} --backlog ${opts.backlog} --outage-seconds ${opts['outage-seconds']}; servers at LOG_LEVEL=${opts['log-level']}`)
  const work = mkdtempSync(join(tmpdir(), 'callgate-bench-events-'))
  const receiver = await startReceiver()
  let finished = false
  try {
    if (sections.includes('cost')) await cost(work, base, receiver)
    if (sections.includes('throughput')) await throughput(work, base, receiver)
    if (sections.includes('drain')) await drain(work, base, receiver)
    finished = true
  } finally {
    await receiver.close()
    if (finished) rmSync(work, { recursive: true, force: true })
    else console.log(`logs kept in ${work}`)
  }
}

await main()
