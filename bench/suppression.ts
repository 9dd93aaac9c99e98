// Import 1,000,000 numbers into the suppression list, then screen 1,000,000 numbers, both as
// streamed text/csv over HTTP on 127.0.0.1 against the real app. Prints time and peak RSS.
// Run by hand: `npx tsx bench/suppression.ts [count]` (DATABASE_URL → PostgreSQL, else PGlite).
// Also printed: this process's CPU time per phase and the load average, since a shared machine's
// wall-clock figures say as much about the neighbours as about the code.
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const COUNT = Number(process.argv[2] ?? 1_000_000)
const dir = mkdtempSync(join(tmpdir(), 'callgate-bench-supp-'))
const config = loadConfig({ ...process.env, DATA_DIR: dir, PORT: '0', LOG_LEVEL: 'silent' })
const app = await buildApp(config)
await app.listen({ port: 0, host: '127.0.0.1' })
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
const auth = { authorization: `Bearer ${config.adminToken}` }
const post = async (path: string, body: unknown) => (await (await fetch(base + path, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { id: string }

let peakRss = 0
const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()) }, 100)
const tenantId = (await post('/api/tenants', { name: 'Bench' })).id
const campaign = await post('/api/campaigns', { tenantId, name: 'Bench', timezone: 'UTC', retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 }, lawfulBasis: 'consent', callCap: { count: 3, perDays: 30 }, defaultCountry: 'GB' })

/**
 * n lines of London numbers as a CSV file in memory, sent in 64 KiB pieces. Made before the clock
 * starts, as a load generator's requests are: making them is the client's work, not the server's,
 * and in this one process it would otherwise compete with the server for the event loop.
 */
function csvFile (n: number, offset: number): Buffer {
  const lines: string[] = []
  for (let i = 0; i < n; i++) lines.push(`020 ${String(70000000 + ((i + offset) % 10_000_000)).replace(/^(\d{4})/, '$1 ')}`)
  return Buffer.from(lines.join('\n') + '\n')
}
function lines (file: Buffer): Readable {
  return Readable.from((function * () { for (let at = 0; at < file.length; at += 65_536) yield file.subarray(at, at + 65_536) })())
}
const stream = (readable: Readable) => Readable.toWeb(readable) as ReadableStream

const load = () => `load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
const cpuSeconds = (since: NodeJS.CpuUsage) => { const u = process.cpuUsage(since); return ((u.user + u.system) / 1e6).toFixed(1) }
console.log(`count ${COUNT.toLocaleString('en')}, ${process.env.DATABASE_URL === undefined ? 'PGlite' : 'PostgreSQL'}, ${load()}`)
const importFile = csvFile(COUNT, 0)
const screenFile = csvFile(COUNT, COUNT / 2)
const baseRss = process.memoryUsage.rss()
let cpu = process.cpuUsage()
let started = Date.now()
const imported = await (await fetch(`${base}/api/suppressions/import?source=registry&country=GB&tenantId=${tenantId}`, { method: 'POST', headers: { ...auth, 'content-type': 'text/csv' }, body: stream(lines(importFile)), duplex: 'half' } as RequestInit)).json()
const importSeconds = (Date.now() - started) / 1000
const importPeak = peakRss
console.log(`import: ${COUNT.toLocaleString('en')} lines in ${importSeconds.toFixed(1)} s (${Math.round(COUNT / importSeconds).toLocaleString('en')}/s), result ${JSON.stringify(imported)}`)
console.log(`  RSS before ${(baseRss / 2 ** 20).toFixed(0)} MiB, peak ${(importPeak / 2 ** 20).toFixed(0)} MiB; CPU ${cpuSeconds(cpu)} s in this process; ${load()}`)

// Half the screened numbers are on the list, half are not. Twice: the first list of a process
// also starts the screening threads (about half a second of their CPU each), the second finds
// them running, as every later list does.
for (const run of ['first screening (threads start)', 'second screening (threads running)']) {
  peakRss = 0
  cpu = process.cpuUsage()
  started = Date.now()
  const res = await fetch(`${base}/api/screen?campaignId=${campaign.id}`, { method: 'POST', headers: { ...auth, 'content-type': 'text/csv' }, body: stream(lines(screenFile)), duplex: 'half' } as RequestInit)
  const counts: Record<string, number> = {}
  let rest = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const text = rest + Buffer.from(chunk).toString()
    const parts = text.split('\r\n')
    rest = parts.pop()!
    for (const line of parts) { const result = line.slice(line.lastIndexOf(',') + 1); counts[result] = (counts[result] ?? 0) + 1 }
  }
  const screenSeconds = (Date.now() - started) / 1000
  console.log(`${run}: ${COUNT.toLocaleString('en')} numbers in ${screenSeconds.toFixed(1)} s (${Math.round(COUNT / screenSeconds).toLocaleString('en')}/s), results ${JSON.stringify(counts)}`)
  console.log(`  peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB; CPU ${cpuSeconds(cpu)} s in this process (its threads included); ${load()}`)
}
clearInterval(sampler)
await app.close()
rmSync(dir, { recursive: true, force: true })
