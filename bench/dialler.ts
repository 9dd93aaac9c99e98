// Outbound campaigns (issue 19). First the contact list: `count` (default 100,000) contacts
// imported as one streamed text/csv body over HTTP on 127.0.0.1 against the real app, then the
// preview over the whole list (time, this process's CPU, peak RSS). Then the dialler for
// `seconds` (default 70) at callsPerMinute 6,000 against a Twilio stand-in in its own process
// (bench/twilio-standin.ts: every call answered at once by a person, the voice webhook and the
// final status posted back): placements per second, the most in any 60 s, CPU per call of this
// process (dialler, webhooks and settlement, PGlite's too when it is the database) and of
// PostgreSQL's processes.
// Run by hand: `npx tsx bench/dialler.ts [count] [seconds]` (DATABASE_URL → PostgreSQL, else PGlite).
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const COUNT = Number(process.argv[2] ?? 100_000)
const SECONDS = Number(process.argv[3] ?? 70)
const ACCOUNT_SID = 'AC' + 'be0c'.repeat(8)
const AUTH_TOKEN = randomBytes(16).toString('hex')
const dir = mkdtempSync(join(tmpdir(), 'callgate-bench-dialler-'))
// A database of its own in DATABASE_URL's cluster: a database remembers the keys of the first
// installation that used it, and this run's keys are new.
let databaseUrl: string | undefined
let dropDatabase = async () => {}
if (process.env.DATABASE_URL !== undefined) {
  const { default: postgres } = await import('postgres')
  const name = `callgate_bench_${randomBytes(4).toString('hex')}`
  const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  const url = new URL(process.env.DATABASE_URL)
  url.pathname = `/${name}`
  databaseUrl = url.toString()
  dropDatabase = async () => { await admin.unsafe(`drop database if exists ${name} with (force)`); await admin.end() }
}
const port = await new Promise<number>((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) }) })
const base = `http://127.0.0.1:${port}`
const standin = spawn(process.execPath, ['--import', 'tsx', new URL('./twilio-standin.ts', import.meta.url).pathname, base, ACCOUNT_SID, AUTH_TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] })
process.on('exit', () => standin.kill())
let standinOut = ''
const twilioUrl = await new Promise<string>((resolve) => standin.stdout.on('data', (c: Buffer) => {
  standinOut += c.toString()
  const m = /listening (\S+)/.exec(standinOut)
  if (m !== null) resolve(m[1]!)
}))
const config = loadConfig({
  ...process.env,
  ...(databaseUrl !== undefined ? { DATABASE_URL: databaseUrl } : {}),
  DATA_DIR: dir,
  PORT: String(port),
  PUBLIC_URL: base,
  LOG_LEVEL: 'silent',
  TWILIO_ACCOUNT_SID: ACCOUNT_SID,
  TWILIO_AUTH_TOKEN: AUTH_TOKEN,
  TWILIO_API_URL: twilioUrl
})
const app = await buildApp(config)
await app.listen({ port, host: '127.0.0.1' })
const auth = { authorization: `Bearer ${config.adminToken}` }
// After a large import on PGlite the event loop may lag for a moment, and a lagging server sheds
// requests with 503 and Retry-After: asked again, as a client would.
const send = async (method: string, path: string, body?: unknown) => {
  let res: Response
  for (let tries = 0; ; tries++) {
    res = await fetch(base + path, { method, headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
    if (res.status !== 503 || tries === 20) break
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  const json = await res.json() as Record<string, unknown> & { id: string }
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}
const post = async (path: string, body: unknown) => await send('POST', path, body)

let peakRss = 0
const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()) }, 100)
const tenantId = (await post('/api/tenants', { name: 'Bench' })).id
const hours = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]))
const campaign = await post('/api/campaigns', { tenantId, name: 'Bench', timezone: 'Europe/London', hours, retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 }, lawfulBasis: 'consent', defaultCountry: 'GB' })

// Made before the clock starts (the client's work, not the server's): national numbers, every
// tenth with a reference and every hundredth in another time zone, as a lead list has them.
const lines: string[] = ['number,reference,timezone']
for (let i = 0; i < COUNT; i++) lines.push(`07700 ${String(100000 + i).padStart(6, '0')}${i % 10 === 0 ? `,lead-${i}` : ''}${i % 100 === 0 ? ',Europe/Paris' : ''}`)
const file = Buffer.from(lines.join('\n') + '\n')
const body = () => Readable.toWeb(Readable.from((function * () { for (let at = 0; at < file.length; at += 65_536) yield file.subarray(at, at + 65_536) })())) as ReadableStream

const load = () => `load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
const cpuSeconds = (since: NodeJS.CpuUsage) => { const u = process.cpuUsage(since); return ((u.user + u.system) / 1e6).toFixed(1) }
console.log(`contacts ${COUNT.toLocaleString('en')}, ${process.env.DATABASE_URL === undefined ? 'PGlite' : 'PostgreSQL'}, ${load()}`)
const baseRss = process.memoryUsage.rss()
peakRss = 0
let cpu = process.cpuUsage()
let started = Date.now()
const imported = await (await fetch(`${base}/api/campaigns/${campaign.id}/contacts`, { method: 'POST', headers: { ...auth, 'content-type': 'text/csv' }, body: body(), duplex: 'half' } as RequestInit)).json() as Record<string, unknown>
const seconds = (Date.now() - started) / 1000
console.log(`import: ${COUNT.toLocaleString('en')} contacts in ${seconds.toFixed(1)} s (${Math.round(COUNT / seconds).toLocaleString('en')}/s), result ${JSON.stringify({ ...imported, invalidLines: undefined })}`)
console.log(`  RSS before ${(baseRss / 2 ** 20).toFixed(0)} MiB, peak ${(peakRss / 2 ** 20).toFixed(0)} MiB; CPU ${cpuSeconds(cpu)} s in this process; ${load()}`)

cpu = process.cpuUsage()
started = Date.now()
const preview = await send('GET', `/api/campaigns/${campaign.id}/preview`)
console.log(`preview: ${((Date.now() - started) / 1000).toFixed(1)} s, CPU ${cpuSeconds(cpu)} s, ${JSON.stringify(preview)}`)

// The dialler: the outbound example flow on a number of the campaign, 6,000 calls a minute.
const CALLER_ID = '+442079460018'
const flow = await post('/api/flows', { name: 'Outbound', campaignId: campaign.id })
await post(`/api/flows/${flow.id}/versions`, { definition: JSON.parse(readFileSync(new URL('../examples/outbound-flow.json', import.meta.url), 'utf8')) })
await post(`/api/flows/${flow.id}/versions/1/publish`, undefined)
await post('/api/numbers', { number: CALLER_ID, campaignId: campaign.id, flowId: flow.id })
await send('PATCH', `/api/campaigns/${campaign.id}`, {
  dialler: { flowId: flow.id, callerId: CALLER_ID, maxConcurrent: 1000, callsPerMinute: 6000, maxAttempts: 1, retryAfterSeconds: { busy: 60, noAnswer: 60, failed: 60, machine: 60 }, machineDetection: 'detect', abandonLimitPercent: 3 }
})
/** utime + stime of every PostgreSQL process of this machine (null: PGlite, in this process). */
const postgresCpu = (): number | null => {
  if (databaseUrl === undefined) return null
  let ticks = 0
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (!stat.includes('(postgres)')) continue
      const fields = stat.split(') ')[1]!.split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {}
  }
  return ticks / 100
}
/** Write system calls of this process so far (sockets included): /proc/self/io syscw. */
const writeSyscalls = () => Number(/syscw: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1])
const placedSoFar = async () => Number((await app.database.raw.session(async (q) => await q<{ n: number }>('select count(*)::int as n from call_attempts where campaign_id = $1', [campaign.id])))[0]!.n)
await post(`/api/campaigns/${campaign.id}/dialler`, { action: 'start' })
while (await placedSoFar() === 0) await new Promise((resolve) => setTimeout(resolve, 20))

/**
 * `seconds` of dialling with the stand-in in `mode`, measured over whole turns from the first
 * placement after the switch: busy is the dialler's own work (claim, screen, place, settle);
 * answer adds each call's voice webhook (its flow's first step) and a completed status.
 */
async function phase (mode: 'busy' | 'answer', seconds: number) {
  await fetch(`${twilioUrl}/mode/${mode}`, { method: 'POST' })
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const cpu = process.cpuUsage()
  const writesBefore = writeSyscalls()
  const pgBefore = postgresCpu()
  const placedBefore = await placedSoFar()
  const started = Date.now()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const placed = await placedSoFar() - placedBefore
  const elapsed = (Date.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  const own = (used.user + used.system) / 1e6
  const pgAfter = postgresCpu()
  const writes = (writeSyscalls() - writesBefore) / placed
  console.log(`  ${mode.padEnd(6)}: ${placed.toLocaleString('en')} calls in ${elapsed.toFixed(1)} s, ${(placed / elapsed).toFixed(1)}/s; this process ${(100 * own / elapsed).toFixed(1)} % of a core, ${(1000 * own / placed).toFixed(2)} ms and ${writes.toFixed(1)} write syscalls a call` +
    (pgBefore !== null && pgAfter !== null ? `; PostgreSQL ${(100 * (pgAfter - pgBefore) / elapsed).toFixed(1)} % of a core, ${(1000 * (pgAfter - pgBefore) / placed).toFixed(2)} ms a call` : ' (PGlite included)'))
}
console.log(`dialler: callsPerMinute 6,000, ${SECONDS} s in each mode, side by side; ${load()}`)
for (const mode of (process.env.BENCH_MODES ?? 'busy,answer,busy,answer').split(',') as Array<'busy' | 'answer'>) await phase(mode, SECONDS / 2)
await post(`/api/campaigns/${campaign.id}/dialler`, { action: 'stop' })
const perSecond = await app.database.raw.session(async (q) => await q<{ s: number, n: number }>(
  "select extract(epoch from date_trunc('second', at))::bigint as s, count(*)::int as n from call_attempts where campaign_id = $1 group by 1 order by 1", [campaign.id]))
const counts = perSecond.map((r) => Number(r.n))
let most60 = 0
for (let i = 0; i < perSecond.length; i++) {
  let n = 0
  for (let j = i; j < perSecond.length && Number(perSecond[j]!.s) < Number(perSecond[i]!.s) + 60; j++) n += Number(perSecond[j]!.n)
  most60 = Math.max(most60, n)
}
const status = await send('GET', `/api/campaigns/${campaign.id}/dialler`)
console.log(`  placements per second: min ${Math.min(...counts.slice(1, -1))}, max ${Math.max(...counts)} over ${counts.length} s; the most in any 60 s ${most60.toLocaleString('en')} (limit 6,000)`)
console.log(`  status ${JSON.stringify({ state: status.state, inFlight: status.inFlight, contacts: status.contacts, outcomes: status.outcomes })}; ${load()}`)
clearInterval(sampler)
standin.kill('SIGTERM')
await new Promise((resolve) => standin.once('exit', resolve))
console.log(`  stand-in: ${standinOut.split('\n').filter((l) => l.startsWith('calls')).join('')}`)
await app.close()
await dropDatabase()
rmSync(dir, { recursive: true, force: true })
