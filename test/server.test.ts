import { spawn } from 'node:child_process'
import t from 'tap'
import { freePort, freshPostgresUrl, tempDir } from './helper.js'

t.test('npm start: a fresh data folder, no configuration, serves and shuts down cleanly', async (t) => {
  const dataDir = tempDir(t)
  const port = await freePort()
  const databaseUrl = await freshPostgresUrl(t)
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' }
  delete env.DATABASE_URL
  if (databaseUrl !== null) env.DATABASE_URL = databaseUrl
  // The test's own TypeScript loader (not tsx, which `npm start` uses): the same transform keeps
  // the child's coverage mergeable with the in-process coverage of the same files.
  const child = spawn(process.execPath, [...process.execArgv, 'src/server.ts'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  // The generated tokens are printed on stderr, apart from the JSON log on stdout.
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })

  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  let health: Response | undefined
  while (Date.now() < deadline && child.exitCode === null) {
    health = await fetch(`${base}/healthz`).catch(() => undefined)
    if (health !== undefined) break
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.equal(health?.status, 200, '/healthz answers')
  const ready = await fetch(`${base}/readyz`)
  t.equal(ready.status, 200, '/readyz: database and object store reachable')
  t.match(stderr, /ADMIN_TOKEN \(generated, stored in .*secrets\.json\): \S{40,}/)
  t.match(stderr, /TWILIO_AUTH_TOKEN \(generated, stored in .*secrets\.json\): [0-9a-f]{32}/)

  const token = /ADMIN_TOKEN [^:]+: (\S+)/.exec(stderr)![1]
  const tenant = await fetch(`${base}/api/tenants`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Acme' }) })
  t.equal(tenant.status, 201, 'the printed admin token works')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM: closes and exits 0')
})

t.test('npm run simulate: a flow tried without a phone or a server', async (t) => {
  const child = spawn(process.execPath, [...process.execArgv, 'scripts/simulate.ts', '--flow', 'examples/reception-flow.json', '--campaign', 'examples/campaign.json', '--at', '2026-11-24T10:00:00Z', '--digits', '2,9'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.resume()
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 0)
  t.match(out, 'flow is valid')
  t.match(out, /recordConsent .*"decision":"denied"/)
  t.match(out, '<Say>You will not be called again. Goodbye.</Say><Hangup/>')
  t.match(out, /suppress \{"node":"optout","source":"ivr"\}/)
  t.notMatch(out, '<Stream', 'consent denied: no stream in the whole transcript')
})
