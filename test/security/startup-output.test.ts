// Issue 17, findings 17 and 9 at the process level: the tokens generated on a first start are
// printed on stderr, never into the JSON log on stdout; what the process creates in DATA_DIR is
// private from birth (umask 077).
import { spawn } from 'node:child_process'
import { lstatSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { filesUnder, freePort, tempDir } from '../helper.js'

t.test('first start: generated tokens on stderr only; stdout is the JSON log', async (t) => {
  const dataDir = tempDir(t)
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(await freePort()), LOG_LEVEL: 'info' }
  for (const name of ['DATABASE_URL', 'ADMIN_TOKEN', 'TWILIO_AUTH_TOKEN']) delete env[name]
  // The test's own TypeScript loader, as test/server.test.ts does (npm start uses tsx).
  const child = spawn(process.execPath, [...process.execArgv, 'src/server.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const listening = new Promise<boolean>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (stdout.includes('"callgate listening"')) resolve(true)
    })
    child.once('exit', () => resolve(false))
    setTimeout(() => resolve(false), 90_000).unref()
  })
  t.ok(await listening, 'the server started')

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

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  t.equal(await exited, 0)
})
