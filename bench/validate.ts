// The flow validator on large definitions (issue 17, finding 2): how long validateFlow takes on
// chains of record nodes nobody consented to and on a branched graph with consent granted and
// withdrawn along the way, and what POST /api/flows/validate answers for them (time and size).
// Run by hand: `npx tsx bench/validate.ts [sizes, default 1000,3000,10000]`. Everything stays in
// this process (the real app over fastify.inject, embedded PGlite).
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { validateFlow } from '../src/flows/index.js'

const sizes = (process.argv[2] ?? '1000,3000,10000').split(',').map(Number)

/** n nodes: n - 1 record nodes in a row, then a hangup; no consent anywhere. */
function chain (n: number): unknown {
  const nodes: Record<string, unknown> = {}
  for (let i = 0; i < n - 1; i++) nodes[`r${i}`] = { type: 'record', next: i === n - 2 ? 'bye' : `r${i + 1}` }
  nodes.bye = { type: 'hangup' }
  return { start: 'r0', nodes }
}

/**
 * About n nodes in layers of three: a menu whose keys lead to the next layer's menu or to a
 * record node (which also goes on to the next menu). Every tenth layer asks for consent (granted
 * and denied both go on, so consent comes and goes); the number of distinct paths from start
 * doubles with each layer, which a validator that enumerates paths would never finish.
 */
function branched (n: number): unknown {
  const layers = Math.floor(n / 3)
  const nodes: Record<string, unknown> = {}
  for (let i = 0; i < layers; i++) {
    const next = i === layers - 1 ? 'bye' : `m${i + 1}`
    nodes[`m${i}`] = { type: 'menu', prompt: `Layer ${i}: press 1 or 2.`, options: { 1: `x${i}`, 2: `r${i}` }, noInput: next }
    nodes[`x${i}`] = i % 10 === 0
      ? { type: 'consent', prompt: 'Press 1 to allow recording, 2 to refuse.', grantDigit: '1', denyDigit: '2', granted: next, denied: next, noInput: next }
      : { type: 'say', text: `Layer ${i}.`, next }
    nodes[`r${i}`] = { type: 'record', next }
  }
  nodes.bye = { type: 'hangup' }
  return { start: 'm0', nodes }
}

function median (xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

/** Wall-clock and CPU milliseconds (medians of 5 runs): on a shared machine the two differ. */
function timeValidate (def: unknown): { ms: number, cpuMs: number, problems: number } {
  let problems = 0
  const runs: number[] = []
  const cpu: number[] = []
  for (let i = 0; i < 5; i++) {
    const started = process.hrtime.bigint()
    const cpuStart = process.cpuUsage()
    problems = validateFlow(def).length
    const used = process.cpuUsage(cpuStart)
    runs.push(Number(process.hrtime.bigint() - started) / 1e6)
    cpu.push((used.user + used.system) / 1000)
  }
  return { ms: median(runs), cpuMs: median(cpu), problems }
}

const dir = mkdtempSync(join(tmpdir(), 'callgate-bench-validate-'))
const config = loadConfig({ ...process.env, DATA_DIR: dir, PORT: '0', LOG_LEVEL: 'silent' })
const app = await buildApp(config)
const auth = { authorization: `Bearer ${config.adminToken}` }

// The first request also compiles the route's schemas and serializers: not the validator's time.
await app.inject({ method: 'POST', url: '/api/flows/validate', headers: auth, payload: { definition: chain(10) } })
console.log(`Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
console.log('| definition | nodes | body | validateFlow, wall (CPU), median of 5 | problems listed | POST /api/flows/validate | reply |')
console.log('|---|---|---|---|---|---|---|')
try {
  const cases: Array<[string, unknown]> = [
    ...sizes.map((n): [string, unknown] => ['chain of records, no consent', chain(n)]),
    ...sizes.map((n): [string, unknown] => ['branched, consent granted and withdrawn', branched(n)])
  ]
  for (const [name, def] of cases) {
    const count = Object.keys((def as { nodes: object }).nodes).length
    const payload = JSON.stringify({ definition: def })
    const { ms, cpuMs, problems } = timeValidate(def)
    const started = process.hrtime.bigint()
    const res = await app.inject({ method: 'POST', url: '/api/flows/validate', headers: { ...auth, 'content-type': 'application/json' }, payload })
    const injectMs = Number(process.hrtime.bigint() - started) / 1e6
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`
    console.log(`| ${name} | ${count.toLocaleString('en')} | ${kb(payload.length)} | ${ms.toFixed(1)} ms (${cpuMs.toFixed(1)} ms) | ${problems} | ${res.statusCode} in ${injectMs.toFixed(1)} ms | ${kb(res.rawPayload.length)} |`)
  }
} finally {
  await app.close()
  rmSync(dir, { recursive: true, force: true })
}
