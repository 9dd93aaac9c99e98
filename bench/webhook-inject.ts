// One webhook round trip through fastify.inject with the real app and database: signed
// /twilio/voice and /twilio/flow requests of whole calls (start → consent → menu → dial).
// Prints the median and p99 per request. Run by hand: `npx tsx bench/webhook-inject.ts [calls]`
// (DATABASE_URL set → PostgreSQL; unset → PGlite in a temp folder). Nothing leaves the process.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { twilioSignature } from '../src/twilio/signature.js'

const calls = Number(process.argv[2] ?? 250)
const dir = mkdtempSync(join(tmpdir(), 'callgate-bench-'))
const config = loadConfig({ ...process.env, DATA_DIR: dir, PUBLIC_URL: 'https://bench.callgate.test', LOG_LEVEL: 'silent' })
const app = await buildApp(config)
const auth = { authorization: `Bearer ${config.adminToken}` }
const json = async (method: 'POST', url: string, payload: object) => (await app.inject({ method, url, headers: auth, payload })).json()

const tenantId = (await json('POST', '/api/tenants', { name: 'Bench' })).id
const campaign = await json('POST', '/api/campaigns', {
  tenantId,
  name: 'Bench',
  timezone: 'UTC',
  hours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]])),
  switchboard: '+442079460000',
  retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 },
  lawfulBasis: 'consent'
})
const flow = await json('POST', '/api/flows', { name: 'Bench', campaignId: campaign.id })
await json('POST', `/api/flows/${flow.id}/versions`, { definition: JSON.parse(readFileSync(new URL('../examples/reception-flow.json', import.meta.url), 'utf8')) })
await app.inject({ method: 'POST', url: `/api/flows/${flow.id}/versions/1/publish`, headers: auth })
await json('POST', '/api/numbers', { number: '+442079460018', campaignId: campaign.id, flowId: flow.id })

const timings: number[] = []
async function send (path: string, params: Record<string, string>) {
  const started = process.hrtime.bigint()
  const res = await app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(config.twilioAuthToken, config.publicUrl + path, params) },
    payload: new URLSearchParams(params).toString()
  })
  timings.push(Number(process.hrtime.bigint() - started) / 1e6)
  if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode}`)
}

for (let i = 0; i < calls; i++) {
  const base = { CallSid: 'CA' + i.toString(16).padStart(32, '0'), From: `+4477009${String(i % 100000).padStart(5, '0')}`, To: '+442079460018' }
  await send('/twilio/voice', base)
  await send('/twilio/flow?node=consent', { ...base, Digits: '1' })
  await send('/twilio/flow?node=menu', { ...base, Digits: '1' })
  await send('/twilio/flow?node=sales', { ...base, DialCallStatus: 'completed' })
}
timings.sort((a, b) => a - b)
const at = (q: number) => timings[Math.min(timings.length - 1, Math.floor(q * timings.length))]!.toFixed(2)
console.log(`database: ${app.database.kind}; ${timings.length} webhook round trips through inject`)
console.log(`median ${at(0.5)} ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`)
await app.close()
rmSync(dir, { recursive: true, force: true })
