// Issue 17, findings 17 and 9 at the process level: the tokens generated on a first start are
// printed on stderr, never into the JSON log on stdout; what the process creates in DATA_DIR is
// private from birth (umask 077).
import { lstatSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { spawnServer } from '../harness/spawn-server.js'
import { filesUnder, tempDir } from '../helper.js'

t.test('first start: generated tokens on stderr only; stdout is the JSON log', async (t) => {
  const dataDir = tempDir(t)
  // The test's own TypeScript loader, as test/server.test.ts does (npm start uses tsx).
  const server = await spawnServer(t, {
    env: { DATA_DIR: dataDir, LOG_LEVEL: 'info', DATABASE_URL: undefined, ADMIN_TOKEN: undefined, TWILIO_AUTH_TOKEN: undefined },
    ready: { line: /"callgate listening"/ },
    timeoutMs: 90_000
  })
  t.ok(await server.ready.then(() => true, () => false), 'the server started')
  const stdout = server.stdout()
  const stderr = server.stderr()

  const admin = /^ADMIN_TOKEN \(generated, stored in .*secrets\.json\): (\S{40,})$/m.exec(stderr)?.[1]
  const twilio = /^TWILIO_AUTH_TOKEN \(generated, stored in .*secrets\.json\): ([0-9a-f]{32})$/m.exec(stderr)?.[1]
  t.ok(admin, 'the admin token is on stderr')
  t.ok(twilio, 'the Twilio auth token is on stderr')
  const lines = stdout.split('\n').filter((l) => l !== '')
  t.ok(lines.length > 0)
  for (const line of lines) {
    let parsed: unknown = null
    try { parsed = JSON.parse(line) } catch {}
    t.ok(parsed !== null && typeof parsed === 'object', `stdout holds only JSON log lines: ${line.slice(0, 80)}`)
  }
  for (const token of [admin, twilio]) if (token !== undefined) t.notOk(stdout.includes(token), 'no token on stdout')

  // PGlite's files are left out: PGlite sets their mode itself (test/security/data-dir.test.ts).
  const created = filesUnder(dataDir).filter((p) => !p.startsWith(join(dataDir, 'pglite')) && !lstatSync(p).isSymbolicLink())
  t.ok(created.some((p) => p.startsWith(join(dataDir, 's3'))), 'the embedded S3 store wrote its files')
  const open = created.filter((p) => (lstatSync(p).mode & 0o077) !== 0)
  t.same(open.map((p) => `${p} ${(lstatSync(p).mode & 0o777).toString(8)}`), [], 'everything the process created is for its user alone')

  t.equal(await server.kill('SIGTERM'), 0)
})
