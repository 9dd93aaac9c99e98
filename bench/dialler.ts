// Outbound campaigns (issue 19). Part 1 measures the contact list: `count` (default 100,000)
// contacts imported as one streamed text/csv body over HTTP on 127.0.0.1 against the real app,
// then the preview over the whole list. Prints time, this process's CPU and peak RSS.
// Run by hand: `npx tsx bench/dialler.ts [count]` (DATABASE_URL → PostgreSQL, else PGlite).
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const COUNT = Number(process.argv[2] ?? 100_000)
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
const config = loadConfig({ ...process.env, ...(databaseUrl !== undefined ? { DATABASE_URL: databaseUrl } : {}), DATA_DIR: dir, PORT: '0', LOG_LEVEL: 'silent' })
const app = await buildApp(config)
await app.listen({ port: 0, host: '127.0.0.1' })
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
const auth = { authorization: `Bearer ${config.adminToken}` }
const post = async (path: string, body: unknown) => (await (await fetch(base + path, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { id: string }

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
// The import may leave the event loop lagging for a moment (PGlite runs in this thread), and a
// lagging server sheds requests with 503 and Retry-After: asked again, as a client would.
let preview: unknown
for (let tries = 0; ; tries++) {
  const res = await fetch(`${base}/api/campaigns/${campaign.id}/preview`, { headers: auth })
  if (res.status !== 503 || tries === 20) { preview = await res.json(); break }
  await new Promise((resolve) => setTimeout(resolve, 500))
}
console.log(`preview: ${((Date.now() - started) / 1000).toFixed(1)} s, CPU ${cpuSeconds(cpu)} s, ${JSON.stringify(preview)}`)
clearInterval(sampler)
await app.close()
await dropDatabase()
rmSync(dir, { recursive: true, force: true })
