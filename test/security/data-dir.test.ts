// Issue 17, finding 9: DATA_DIR and everything in it private to the server's user (folders 0700,
// files 0600), PGlite's own 0666 files included; a DATA_DIR another user owns is refused.
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { filesUnder, PUBLIC_URL, tempDir } from '../helper.js'

const mode = (path: string) => lstatSync(path).mode & 0o777
const env = (dataDir: string) => ({ DATA_DIR: dataDir, PUBLIC_URL, LOG_LEVEL: 'silent' })

t.test('an existing DATA_DIR left readable is made private at start-up; links are not followed', async (t) => {
  const dataDir = join(tempDir(t), 'data')
  mkdirSync(join(dataDir, 'old', 'deeper'), { recursive: true })
  chmodSync(dataDir, 0o777)
  chmodSync(join(dataDir, 'old'), 0o755)
  // Complete, so loadConfig has nothing to generate and leaves the file as it found it.
  const secrets = { twilioAuthToken: 'a'.repeat(32), adminToken: 'b'.repeat(43), numberHashKey: 'c'.repeat(43), linkSecret: 'd'.repeat(43) }
  writeFileSync(join(dataDir, 'secrets.json'), JSON.stringify(secrets))
  chmodSync(join(dataDir, 'secrets.json'), 0o644)
  writeFileSync(join(dataDir, 'old', 'deeper', 'left-over'), 'x')
  chmodSync(join(dataDir, 'old', 'deeper', 'left-over'), 0o666)
  const outside = join(tempDir(t), 'not-ours')
  writeFileSync(outside, 'x')
  chmodSync(outside, 0o644)
  symlinkSync(outside, join(dataDir, 'old', 'link'))

  // No database override: the embedded PGlite is created in DATA_DIR/pglite, as on a first start.
  const app = await buildApp(loadConfig(env(dataDir)))
  t.teardown(() => app.close())
  await app.ready()

  t.equal(mode(dataDir), 0o700, 'DATA_DIR 0700')
  t.equal(mode(join(dataDir, 'secrets.json')), 0o600, 'an existing secrets.json 0600')
  t.equal(mode(join(dataDir, 'old')), 0o700, 'a subfolder 0700')
  t.equal(mode(join(dataDir, 'old', 'deeper', 'left-over')), 0o600, 'a 0666 file 0600')
  t.equal(mode(outside), 0o644, 'a symlink\'s target outside DATA_DIR is left alone')
  const pglite = filesUnder(join(dataDir, 'pglite'))
  t.ok(pglite.length > 100, `PGlite created its files (${pglite.length})`)
  const open = pglite.filter((p) => !lstatSync(p).isSymbolicLink() && (mode(p) & 0o077) !== 0)
  t.same(open.map((p) => `${p} ${mode(p).toString(8)}`), [], 'no PGlite file or folder readable by others (PGlite sets 0666 itself)')
})

t.test('a DATA_DIR owned by another user is refused before anything is read from it', { skip: process.getuid?.() !== 0 ? 'needs root to chown' : false }, async (t) => {
  const dataDir = join(tempDir(t), 'theirs')
  mkdirSync(dataDir, { mode: 0o755 })
  chownSync(dataDir, 65534, 65534)
  t.throws(() => loadConfig(env(dataDir)), { name: 'Error', message: /DATA_DIR .*theirs is owned by uid 65534, not by the user this server runs as \(uid 0\)/ })
  t.same(readdirSync(dataDir), [], 'no secrets were written into it')
  t.equal(statSync(dataDir).mode & 0o777, 0o755, 'nor its mode changed')

  // Handed over after the configuration was read: the app refuses too, before opening anything.
  const later = join(tempDir(t), 'handed-over')
  const config = loadConfig(env(later))
  chownSync(later, 65534, 65534)
  await t.rejects(buildApp(config), { message: /is owned by uid 65534/ })
  t.notOk(readdirSync(later).includes('pglite'), 'no database was created in it')
})
