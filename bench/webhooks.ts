// HTTP load on the Twilio voice webhooks, every target in its own process on 127.0.0.1 and the
// load generator (autocannon) in this one:
//   bare     a Fastify hello-world (the ceiling: what one Node process answers on this machine)
//   naive    a handler written the way Twilio's quick-starts are: form body, validateRequest, a new
//            VoiceResponse per request, no state, nothing persisted
//   peer     the naive handler plus what users add once calls must be remembered: one transaction
//            per webhook (lock the call's row, append an event, store the consent decision, update
//            the state) on a fresh database of DATABASE_URL's cluster, postgres.js pool of 10
//   pglite   the real server (src/server.ts) on its embedded database
//   postgres the real server on a fresh database created in DATABASE_URL's cluster
//   pglite-root, postgres-root  the same, run from another checkout (--root), e.g. an older commit
// Requests are whole calls (voice → consent digit 1 → menu digit 1 → dial status), signed, with
// unique CallSids and the step numbers the server puts in its action URLs; the signed pool is
// built before the run. A non-200, an apology or a reply without the expected next action URL
// counts as a failure and is printed, never as throughput. Each target is first loaded to
// saturation (closed loop, --connections), then each stateful one at each steady --rate: calls
// start evenly spaced (open loop), each posting its requests in turn.
//
//   npx tsx bench/webhooks.ts [--duration 10] [--connections 50] [--targets bare,naive,peer,pglite,postgres]
//                             [--rate 200,1000] [--warmup 3] [--log-level info] [--cpu-prof DIR] [--root DIR]
// Env: DATABASE_URL adds the peer and postgres targets. Nothing leaves 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { twilioSignature } from '../src/twilio/signature.js'

const ROOT = new URL('../', import.meta.url).pathname
const PUBLIC_URL = 'https://bench.callgate.test'
const TWILIO_TOKEN = 'bench-twilio-auth-token-0123456789abcdef'
const ADMIN_TOKEN = 'bench-admin-token-' + 'x'.repeat(32)
const NUMBER = '+442079460018'
const FORM = 'application/x-www-form-urlencoded'

const { values: opts } = parseArgs({
  options: {
    serve: { type: 'string' },
    database: { type: 'string' },
    port: { type: 'string' },
    duration: { type: 'string', default: process.env.BENCH_DURATION ?? '10' },
    connections: { type: 'string', default: process.env.BENCH_CONNECTIONS ?? '50' },
    targets: { type: 'string', default: process.env.BENCH_TARGETS ?? '' },
    // Steady rates, comma-separated; 0 for none.
    rate: { type: 'string', default: process.env.BENCH_RATE ?? '200,1000' },
    warmup: { type: 'string', default: process.env.BENCH_WARMUP ?? '3' },
    'log-level': { type: 'string', default: process.env.BENCH_LOG_LEVEL ?? 'info' },
    'cpu-prof': { type: 'string' },
    // Another checkout's src/server.ts as the real server, e.g. an older commit to compare with.
    root: { type: 'string' }
  }
})

// ---------------------------------------------------------------- the two reference servers

async function serve (kind: string): Promise<void> {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  if (kind === 'bare') {
    // The body is read (it has to come off the socket) but not parsed.
    app.addContentTypeParser(FORM, { parseAs: 'string' }, (_req, body, done) => { done(null, body) })
    app.post('/*', async () => 'hello world')
  }
  let persist: Awaited<ReturnType<typeof peerStore>> | null = null
  if (kind !== 'bare') {
    const { default: formbody } = await import('@fastify/formbody')
    if (kind === 'peer') persist = await peerStore(opts.database!)
    const { default: twilio } = await import('twilio')
    const { default: VoiceResponse } = await import('twilio/lib/twiml/VoiceResponse.js')
    await app.register(formbody)
    // As the quick-starts do: check the signature, build the TwiML (the peer also stores the step,
    // see peerStore). The action URLs
    // carry the same &step=N as the real server's so that both get the same requests.
    const signed = (request: { url: string, headers: Record<string, unknown>, body: unknown }) =>
      twilio.validateRequest(TWILIO_TOKEN, String(request.headers['x-twilio-signature']), PUBLIC_URL + request.url, request.body as Record<string, string>)
    const action = (node: string, step: number) => `${PUBLIC_URL}/twilio/flow?node=${node}&step=${step}`
    app.post<{ Body: Record<string, string> }>('/twilio/voice', async (request, reply) => {
      if (!signed(request)) return await reply.code(403).send('Forbidden')
      await persist?.start(request.body)
      const response = new VoiceResponse()
      response.say('Thank you for calling Acme.')
      response.gather({ input: ['dtmf'], numDigits: 1, timeout: 5, action: action('consent', 1), method: 'POST', actionOnEmptyResult: true })
        .say('We would like to record this call for training. Press 1 to agree, or 2 to continue without recording.')
      return await reply.type('text/xml').send(response.toString())
    })
    app.post<{ Querystring: { node: string, step?: string }, Body: Record<string, string> }>('/twilio/flow', async (request, reply) => {
      if (!signed(request)) return await reply.code(403).send('Forbidden')
      const step = Number(request.query.step ?? 0) + 1
      await persist?.step(request.body, request.query.node, step)
      const response = new VoiceResponse()
      if (request.query.node === 'consent') {
        if (request.body.Digits === '1') response.start().stream({ url: 'wss://bench.callgate.test/twilio/media', track: 'both_tracks', name: 'recording' }).parameter({ name: 'token', value: 'none' })
        response.gather({ input: ['dtmf'], numDigits: 1, timeout: 5, action: action('menu', step), method: 'POST', actionOnEmptyResult: true })
          .say('Press 1 for sales. Press 9 if you do not want us to call you again.')
      } else if (request.query.node === 'menu') {
        response.dial({ timeout: 25, action: action('sales', step), method: 'POST' }).number('+442039364242')
      } else {
        response.hangup()
      }
      return await reply.type('text/xml').send(response.toString())
    })
  }
  await app.listen({ port: Number(opts.port), host: '127.0.0.1' })
  // A normal exit, so that --cpu-prof writes its profile.
  process.once('SIGINT', () => { void app.close().then(async () => { await persist?.close() }).finally(() => process.exit(0)) })
}

/**
 * What users add to the quick-start once calls must be remembered: a table of calls, an event log
 * and the consent decision, written in one transaction per webhook that locks the call's row (so
 * a Twilio retry and its original cannot both apply), with postgres.js's default pool of 10.
 */
async function peerStore (url: string) {
  const { default: postgres } = await import('postgres')
  const sql = postgres(url, { max: 10, onnotice: () => {} })
  await sql.unsafe(`
    create table if not exists calls (call_sid text primary key, from_number text not null, to_number text not null, node text not null, step integer not null, ended boolean not null default false, updated_at timestamptz not null);
    create table if not exists call_events (id bigserial primary key, call_sid text not null references calls, kind text not null, data jsonb not null, at timestamptz not null);
    create index if not exists call_events_call on call_events (call_sid);
    create table if not exists consents (call_sid text primary key references calls, granted boolean not null, at timestamptz not null);
  `)
  return {
    async start (body: Record<string, string>): Promise<void> {
      await sql.begin(async (tx) => {
        await tx`insert into calls (call_sid, from_number, to_number, node, step, updated_at) values (${body.CallSid!}, ${body.From!}, ${body.To!}, 'consent', 1, now()) on conflict do nothing`
        await tx`select step from calls where call_sid = ${body.CallSid!} for update`
        await tx`insert into call_events (call_sid, kind, data, at) values (${body.CallSid!}, 'call.started', ${tx.json({ from: body.From!, to: body.To! })}, now())`
      })
    },
    async step (body: Record<string, string>, node: string, next: number): Promise<void> {
      await sql.begin(async (tx) => {
        const [call] = await tx`select step, ended from calls where call_sid = ${body.CallSid!} for update`
        if (call === undefined || call.ended === true || Number(call.step) >= next) return
        await tx`insert into call_events (call_sid, kind, data, at) values (${body.CallSid!}, ${'node.' + node}, ${tx.json({ digits: body.Digits ?? null, dialStatus: body.DialCallStatus ?? null })}, now())`
        if (node === 'consent') await tx`insert into consents (call_sid, granted, at) values (${body.CallSid!}, ${body.Digits === '1'}, now()) on conflict (call_sid) do update set granted = excluded.granted, at = excluded.at`
        await tx`update calls set node = ${node}, step = ${next}, ended = ${node === 'sales'}, updated_at = now() where call_sid = ${body.CallSid!}`
      })
    },
    close: async () => { await sql.end({ timeout: 5 }) }
  }
}

// ---------------------------------------------------------------- the load generator

interface Req { path: string, body: string, signature: string, expect: string | null }

/** The four signed requests of one call and what each reply must contain to count as answered. */
function signedCall (prefix: string, i: number): Req[] {
  const base = { CallSid: 'CA' + prefix + i.toString(16).padStart(32 - prefix.length, '0'), From: `+4477009${String(i % 100000).padStart(5, '0')}`, To: NUMBER, Direction: 'inbound' }
  // The URL Twilio posts to next is the action of the previous reply, step number included;
  // the reply is checked for it, so a bench that drifted from the server's URLs fails loudly.
  const steps: Array<[string, Record<string, string>, string]> = [
    ['/twilio/voice', base, 'node=consent&amp;step=1'],
    ['/twilio/flow?node=consent&step=1', { ...base, Digits: '1' }, 'node=menu&amp;step=2'],
    ['/twilio/flow?node=menu&step=2', { ...base, Digits: '1' }, 'node=sales&amp;step=3'],
    ['/twilio/flow?node=sales&step=3', { ...base, DialCallStatus: 'completed' }, '<Hangup/>']
  ]
  return steps.map(([path, params, expect]) => ({ path, body: new URLSearchParams(params).toString(), signature: twilioSignature(TWILIO_TOKEN, PUBLIC_URL + path, params), expect }))
}

/** `next` goes back to 0 for each target: each real server has a fresh database. */
interface Pool { calls: Req[][], next: number, wrapped: number }

function buildPool (calls: number): Pool {
  const prefix = randomBytes(4).toString('hex')
  return { calls: Array.from({ length: calls }, (_, i) => signedCall(prefix, i)), next: 0, wrapped: 0 }
}

interface Outcome {
  target: string
  rps: number
  p50: number
  p99: number
  max: number
  requests: number
  failures: number
  errors: number
  failureSamples: string[]
  serverCpu: number
  /** CPU of the target's PostgreSQL backends per second (a local cluster only), else null. */
  dbCpu: number | null
  poolWrapped: number
}

const percentile = (sorted: Float64Array, q: number) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

/**
 * One autocannon run. Each connection replays whole calls: request 0 takes the next call from
 * the pool, 1–3 continue it (autocannon sends a connection's requests in order and resets the
 * context when it loops). `stateful`: the server remembers CallSids, so the pool must not wrap.
 */
async function load (url: string, pool: Pool, o: { duration: number, connections: number, rate?: number, check: boolean, stateful: boolean, pid: number, backends?: () => Promise<number[]> }): Promise<Omit<Outcome, 'target'>> {
  const latencies: number[] = []
  let failures = 0
  const failureSamples: string[] = []
  const fail = (what: string) => {
    failures++
    if (failureSamples.length < 5) failureSamples.push(what.slice(0, 300))
  }
  const step = (k: number): autocannon.Request => ({
    method: 'POST',
    setupRequest: (req, ctx) => {
      const context = ctx as { call: Req[] }
      if (k === 0) {
        if (pool.next === pool.calls.length) { pool.next = 0; pool.wrapped++ }
        context.call = pool.calls[pool.next++]!
      }
      const r = context.call[k]!
      return { ...req, path: r.path, body: r.body, headers: { 'content-type': FORM, 'x-twilio-signature': r.signature } }
    },
    onResponse: (status, body, ctx) => {
      const r = (ctx as { call: Req[] }).call[k]!
      if (status !== 200) fail(`${status} ${r.path}: ${body}`)
      else if (o.check && (r.expect === null || !body.includes(r.expect) || body.includes('Sorry'))) fail(`${r.path}: ${body}`)
    }
  })
  const cpuBefore = cpuSeconds(o.pid)
  const dbBefore = o.backends !== undefined ? await backendCpu(await o.backends()) : null
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url,
      connections: o.connections,
      duration: o.duration,
      ...(o.rate !== undefined ? { overallRate: o.rate } : {}),
      requests: [step(0), step(1), step(2), step(3)]
    }, (err, res) => { if (err !== null && err !== undefined) reject(err); else resolve(res) })
    // autocannon's own histogram keeps whole milliseconds of 2xx replies only: every reply is kept here.
    instance.on('response', (_client, _status, _bytes, ms) => { latencies.push(ms) })
  })
  const cpu = cpuSeconds(o.pid) - cpuBefore
  let dbCpu: number | null = null
  if (o.backends !== undefined && dbBefore !== null) {
    // Backends that started during the run count from zero.
    const after = await backendCpu(await o.backends())
    if (after !== null) dbCpu = [...after].reduce((sum, [pid, seconds]) => sum + seconds - (dbBefore.get(pid) ?? 0), 0)
  }
  const sorted = Float64Array.from(latencies).sort()
  const errors = result.errors + result.timeouts
  if (o.stateful && pool.wrapped > 0) fail(`the pool of ${pool.calls.length} calls ran out: CallSids were reused`)
  return {
    rps: result.requests.total / result.duration,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : NaN,
    requests: result.requests.total,
    failures,
    errors,
    failureSamples,
    serverCpu: cpu / result.duration,
    dbCpu: dbCpu === null ? null : dbCpu / result.duration,
    poolWrapped: pool.wrapped
  }
}

/**
 * A steady rate, as calls arrive at a real server: a new call every 4/`rate` s, evenly spaced
 * (open loop: a slow server does not slow the arrivals), each call posting its four requests one
 * after the other, the next as soon as the previous is answered, over keep-alive connections.
 * autocannon's own rate limit is not used for this: it lets each connection send its share of a
 * second back to back at the start of the second, so its latencies are those of a burst.
 */
async function paced (url: string, pool: Pool, o: { duration: number, rate: number, check: boolean, pid: number, backends?: () => Promise<number[]> }): Promise<Omit<Outcome, 'target'>> {
  const { Agent, request } = await import('node:http')
  const agent = new Agent({ keepAlive: true, maxSockets: 512 })
  const target = new URL(url)
  const latencies: number[] = []
  let failures = 0
  let errors = 0
  let requests = 0
  const failureSamples: string[] = []
  const fail = (what: string) => {
    failures++
    if (failureSamples.length < 5) failureSamples.push(what.slice(0, 300))
  }
  const post = async (r: Req): Promise<void> => await new Promise((resolve) => {
    const started = performance.now()
    const req = request({ agent, host: target.hostname, port: target.port, method: 'POST', path: r.path, headers: { 'content-type': FORM, 'x-twilio-signature': r.signature, 'content-length': Buffer.byteLength(r.body) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        latencies.push(performance.now() - started)
        requests++
        const body = Buffer.concat(chunks).toString()
        if (res.statusCode !== 200) fail(`${res.statusCode} ${r.path}: ${body}`)
        else if (o.check && (r.expect === null || !body.includes(r.expect) || body.includes('Sorry'))) fail(`${r.path}: ${body}`)
        resolve()
      })
    })
    req.on('error', () => { errors++; resolve() })
    req.end(r.body)
  })
  const runCall = async (call: Req[]) => { for (const r of call) await post(r) }
  const cpuBefore = cpuSeconds(o.pid)
  const dbBefore = o.backends !== undefined ? await backendCpu(await o.backends()) : null
  const inFlight = new Set<Promise<void>>()
  const began = performance.now()
  const callsPerMs = o.rate / 4 / 1000
  let started = 0
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - began
      if (elapsed >= o.duration * 1000) {
        clearInterval(tick)
        resolve()
        return
      }
      // Every call due by now starts now: the timer's jitter does not lower the rate.
      for (const due = Math.floor(elapsed * callsPerMs); started < due; started++) {
        if (pool.next === pool.calls.length) { pool.next = 0; pool.wrapped++ }
        const p = runCall(pool.calls[pool.next++]!)
        inFlight.add(p)
        void p.then(() => inFlight.delete(p))
      }
    }, 1)
  })
  await Promise.all(inFlight)
  const seconds = (performance.now() - began) / 1000
  const cpu = cpuSeconds(o.pid) - cpuBefore
  let dbCpu: number | null = null
  if (o.backends !== undefined && dbBefore !== null) {
    const after = await backendCpu(await o.backends())
    if (after !== null) dbCpu = [...after].reduce((sum, [pid, sec]) => sum + sec - (dbBefore.get(pid) ?? 0), 0)
  }
  agent.destroy()
  if (pool.wrapped > 0) fail(`the pool of ${pool.calls.length} calls ran out: CallSids were reused`)
  const sorted = Float64Array.from(latencies).sort()
  return {
    rps: requests / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : NaN,
    requests,
    failures,
    errors,
    failureSamples,
    serverCpu: cpu / seconds,
    dbCpu: dbCpu === null ? null : dbCpu / seconds,
    poolWrapped: pool.wrapped
  }
}

/** utime + stime of a process, in seconds (/proc/PID/stat, clock ticks of 1/100 s on Linux). */
function cpuSeconds (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** pid → CPU seconds of PostgreSQL backends, or null when they are not processes of this machine. */
async function backendCpu (pids: number[]): Promise<Map<number, number> | null> {
  try {
    return new Map(pids.map((pid) => [pid, cpuSeconds(pid)]))
  } catch {
    return null
  }
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    }).on('error', reject)
  })
}

interface Running { url: string, pid: number, stop (): Promise<void> }

async function waitHealthy (url: string, child: ChildProcess, log: string): Promise<void> {
  for (let i = 0; ; i++) {
    if (await fetch(url).then((r) => r.status < 500, () => false)) return
    if (child.exitCode !== null) throw new Error(`target exited at start; see ${log}`)
    if (i > 1200) throw new Error(`target did not start in 120 s; see ${log}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** `kind` is a target's name; `pglite-root` and `postgres-root` run --root's server. */
async function startTarget (target: string, work: string, databaseUrl: string | null): Promise<Running> {
  const kind = target.replace(/-root$/, '')
  const port = await freePort()
  const log = join(work, `${target}.log`)
  const out = openSync(log, 'a')
  const prof = opts['cpu-prof'] !== undefined ? ['--cpu-prof', '--cpu-prof-dir', join(opts['cpu-prof'], target)] : []
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
  delete env.DATABASE_URL
  let args: string[]
  const reference = kind === 'bare' || kind === 'naive' || kind === 'peer'
  if (reference) {
    args = [...prof, '--import', 'tsx', 'bench/webhooks.ts', '--serve', kind, '--port', String(port), ...(databaseUrl !== null ? ['--database', databaseUrl] : [])]
  } else {
    Object.assign(env, {
      DATA_DIR: mkdtempSync(join(work, `${target}-data-`)),
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL,
      TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
      ADMIN_TOKEN,
      LOG_LEVEL: opts['log-level'],
      ...(databaseUrl !== null ? { DATABASE_URL: databaseUrl } : {})
    })
    args = [...prof, '--import', 'tsx', 'src/server.ts']
  }
  if (target !== kind && opts.root === undefined) throw new Error(`${target} needs --root`)
  const child = spawn(process.execPath, args, { cwd: target !== kind ? opts.root : ROOT, env, stdio: ['ignore', out, out] })
  const url = `http://127.0.0.1:${port}`
  await waitHealthy(reference ? url : `${url}/healthz`, child, log)
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      // SIGINT: the server closes gracefully, and --cpu-prof writes its profile on a normal exit.
      child.kill('SIGINT')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    }
  }
}

/** Tenant, campaign open around the clock, the example reception flow published, the number bound to it. */
async function provision (url: string): Promise<void> {
  const call = async (path: string, body?: object) => {
    const res = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return await res.json() as { id: string }
  }
  const tenantId = (await call('/api/tenants', { name: 'Bench' })).id
  const campaign = await call('/api/campaigns', {
    tenantId,
    name: 'Bench',
    timezone: 'UTC',
    hours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]])),
    switchboard: '+442079460000',
    retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 },
    lawfulBasis: 'consent'
  })
  const flow = await call('/api/flows', { name: 'Bench', campaignId: campaign.id })
  await call(`/api/flows/${flow.id}/versions`, { definition: JSON.parse(readFileSync(join(ROOT, 'examples/reception-flow.json'), 'utf8')) })
  await call(`/api/flows/${flow.id}/versions/1/publish`)
  await call('/api/numbers', { number: NUMBER, campaignId: campaign.id, flowId: flow.id })
}

/** A throwaway database in DATABASE_URL's cluster: the server's keys are checked against the database's first use. */
async function freshPostgres (base: string): Promise<{ url: string, backends (): Promise<number[]>, drop (): Promise<void> }> {
  const { default: postgres } = await import('postgres')
  const name = `callgate_bench_${randomBytes(4).toString('hex')}`
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  const url = new URL(base)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    // The server's connections; their CPU is the database's share of the work.
    backends: async () => (await admin.unsafe('select pid from pg_stat_activity where datname = $1', [name])).map((r) => Number(r.pid)),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end()
    }
  }
}

async function main (): Promise<void> {
  const duration = Number(opts.duration)
  const connections = Number(opts.connections)
  const rates = opts.rate.split(',').map(Number).filter((r) => r > 0)
  const warmup = Number(opts.warmup)
  const databaseUrl = process.env.DATABASE_URL ?? null
  const targets = opts.targets !== '' ? opts.targets.split(',') : ['bare', 'naive', ...(databaseUrl !== null ? ['peer'] : []), 'pglite', ...(databaseUrl !== null ? ['postgres'] : [])]
  if (targets.some((t) => /^(postgres|peer)/.test(t)) && databaseUrl === null) throw new Error('the postgres and peer targets need DATABASE_URL')

  const cpu = cpus()
  console.log(`machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, node ${process.version}, load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  if (opts.root !== undefined) console.log(`*-root targets: ${opts.root}/src/server.ts`)
  console.log(`load: autocannon in this process, ${connections} connections, ${duration} s per target after ${warmup} s of warm-up; real servers at LOG_LEVEL=${opts['log-level']}`)

  const work = mkdtempSync(join(tmpdir(), 'callgate-bench-'))
  // Enough calls for a real server at 16,000 req/s (more would be reported as the pool running
  // out); the stateless targets loop over it.
  const poolCalls = Math.ceil(((warmup + duration) * 16_000 + duration * rates.reduce((a, b) => a + b, 0)) / 4)
  const started = Date.now()
  const pool = buildPool(poolCalls)
  console.log(`signed ${poolCalls * 4} requests (${poolCalls} calls) in ${((Date.now() - started) / 1000).toFixed(1)} s; per-run output in ${work}`)

  const outcomes: Outcome[] = []
  const fixed: Outcome[] = []
  let finished = false
  try {
    for (const target of targets) {
      const kind = target.replace(/-root$/, '')
      const stateful = kind === 'pglite' || kind === 'postgres' || kind === 'peer'
      const pg = kind === 'postgres' || kind === 'peer' ? await freshPostgres(databaseUrl!) : null
      const server = await startTarget(target, work, pg?.url ?? null)
      pool.next = 0
      pool.wrapped = 0
      try {
        if (stateful && kind !== 'peer') await provision(server.url)
        const run = { connections, check: target !== 'bare', stateful, pid: server.pid, ...(pg !== null ? { backends: pg.backends } : {}) }
        if (warmup > 0 && connections > 0) await load(server.url, pool, { ...run, duration: warmup })
        // --connections 0: the steady rates alone (e.g. to profile one of them).
        if (connections > 0) {
          const outcome = { target, ...await load(server.url, pool, { ...run, duration }) }
          outcomes.push(outcome)
          report(outcome)
        }
        for (const rate of stateful ? rates : []) {
          const steady = { target: `${target} @ ${rate}/s steady`, ...await paced(server.url, pool, { ...run, duration, rate }) }
          fixed.push(steady)
          report(steady)
        }
      } finally {
        await server.stop()
        await pg?.drop()
      }
    }
    finished = true
  } finally {
    // Kept after a failure (the targets' logs) or with profiles.
    if (finished && opts['cpu-prof'] === undefined) rmSync(work, { recursive: true, force: true })
  }

  const bare = outcomes.find((o) => o.target === 'bare')?.rps
  const naive = outcomes.find((o) => o.target === 'naive')?.rps
  const peer = outcomes.find((o) => o.target === 'peer')?.rps
  const ratio = (x: number, of: number | undefined) => of === undefined ? '—' : `${(x / of).toFixed(2)}×`
  // CPU per request moves less than req/s when other work shares the machine (it is still not immune).
  console.log('\n| target | req/s | p50 ms | p99 ms | max ms | ÷ bare | ÷ naive | ÷ peer | failures | server CPU | server CPU ms/req | PostgreSQL CPU ms/req |')
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const o of [...outcomes, ...fixed]) {
    // A steady run's req/s is the offered rate: ratios would say nothing.
    const ratios = fixed.includes(o) ? ['', '', ''] : [ratio(o.rps, bare), ratio(o.rps, naive), ratio(o.rps, peer)]
    console.log(`| ${o.target} | ${Math.round(o.rps)} | ${o.p50.toFixed(2)} | ${o.p99.toFixed(2)} | ${o.max.toFixed(2)} | ${ratios.join(' | ')} | ${o.failures + o.errors} | ${(o.serverCpu * 100).toFixed(0)} % | ${(o.serverCpu / o.rps * 1000).toFixed(3)} | ${o.dbCpu === null ? '—' : (o.dbCpu / o.rps * 1000).toFixed(3)} |`)
  }
  if ([...outcomes, ...fixed].some((o) => o.failures + o.errors > 0)) process.exitCode = 1
}

function report (o: Outcome): void {
  console.log(`${o.target}: ${o.requests} requests, ${Math.round(o.rps)} req/s, p50 ${o.p50.toFixed(2)} ms, p99 ${o.p99.toFixed(2)} ms, max ${o.max.toFixed(2)} ms, failures ${o.failures}, socket errors/timeouts ${o.errors}, server CPU ${(o.serverCpu * 100).toFixed(0)} % of a core${o.dbCpu !== null ? `, PostgreSQL CPU ${(o.dbCpu * 100).toFixed(0)} % of a core` : ''}`)
  for (const s of o.failureSamples) console.log(`  failure: ${s}`)
}

if (opts.serve !== undefined) await serve(opts.serve)
else await main()
