import t from 'tap'
import { spawnServer } from './harness/spawn-server.js'
import { freshPostgresUrl, tempDir } from './helper.js'

t.test('npm start: a fresh data folder, no configuration, serves and shuts down cleanly', async (t) => {
  const dataDir = tempDir(t)
  const databaseUrl = await freshPostgresUrl(t)
  // The test's own TypeScript loader (not tsx, which `npm start` uses): the same transform keeps
  // the child's coverage mergeable with the in-process coverage of the same files.
  const server = await spawnServer(t, { env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: databaseUrl ?? undefined } })
  // Up to 60 s for /healthz; a start that failed is reported by the assertion below, with its output.
  await server.ready.catch((err: unknown) => t.comment(String(err)))
  const base = server.url
  const health = await fetch(`${base}/healthz`).catch(() => undefined)
  t.equal(health?.status, 200, '/healthz answers')
  const ready = await fetch(`${base}/readyz`)
  t.equal(ready.status, 200, '/readyz: database and object store reachable')
  // The generated tokens are printed on stderr, apart from the JSON log on stdout.
  const stderr = server.stderr()
  t.match(stderr, /ADMIN_TOKEN \(generated, stored in .*secrets\.json\): \S{40,}/)
  t.match(stderr, /TWILIO_AUTH_TOKEN \(generated, stored in .*secrets\.json\): [0-9a-f]{32}/)

  const token = /ADMIN_TOKEN [^:]+: (\S+)/.exec(stderr)![1]
  const tenant = await fetch(`${base}/api/tenants`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Acme' }) })
  t.equal(tenant.status, 201, 'the printed admin token works')

  t.equal(await server.kill('SIGTERM'), 0, 'SIGTERM: closes and exits 0')
})

t.test('npm run simulate: a flow tried without a phone or a server', async (t) => {
  const simulate = await spawnServer(t, { script: 'scripts/simulate.ts', args: ['--flow', 'examples/reception-flow.json', '--campaign', 'examples/campaign.json', '--at', '2026-11-24T10:00:00Z', '--digits', '2,9'], ready: null })
  const code = await simulate.exited
  const out = simulate.stdout()
  t.equal(code, 0)
  t.match(out, 'flow is valid')
  t.match(out, /recordConsent .*"decision":"denied"/)
  t.match(out, '<Say>You will not be called again. Goodbye.</Say><Hangup/>')
  t.match(out, /suppress \{"node":"optout","source":"ivr"\}/)
  t.notMatch(out, '<Stream', 'consent denied: no stream in the whole transcript')
})
