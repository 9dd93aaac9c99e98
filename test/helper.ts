import { createHash, randomBytes } from 'node:crypto'
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { buildApp, type App, type AppOverrides } from '../src/app.js'
import type { Clock } from '../src/clock.js'
import { loadConfig, type Config } from '../src/config.js'
import { openDatabase, type Database } from '../src/db/client.js'
import { twilioSignature } from '../src/twilio/signature.js'

// Kept importable from here for the tests that reach for it beside the other helpers.
export { freePort } from './harness/ports.js'

export const PUBLIC_URL = 'https://voice.callgate.test'
export const TWILIO_TOKEN = 'test-twilio-auth-token-0123456789'
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef'

interface Tap {
  teardown (fn: () => unknown): void
}

/** A clock the test moves by hand. */
export function fixedClock (iso: string): Clock & { set (iso: string): void, advance (ms: number): void } {
  let now = new Date(iso)
  return {
    now: () => new Date(now),
    set: (next) => { now = new Date(next) },
    advance: (ms) => { now = new Date(now.getTime() + ms) }
  }
}

/** Every path below `dir` (folders included), without following symlinks. */
export function filesUnder (dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    out.push(path)
    if (lstatSync(path).isDirectory()) filesUnder(path, out)
  }
  return out
}

export function tempDir (t: Tap, prefix = 'callgate-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function testConfig (t: Tap, env: Record<string, string> = {}): Config {
  return loadConfig({
    DATA_DIR: tempDir(t),
    PUBLIC_URL,
    TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
    ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    // app.inject on PGlite can run many requests in microtasks while the event loop barely turns,
    // which under-pressure reads as lag: the event-loop guard is off unless a test turns it on
    // (test/overload.test.ts). Spawned servers keep the default.
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    // Tests run the dialler's turns themselves (app.dialler.tick()), with the injected clock.
    DIALLER_INTERVAL_MS: '0',
    // Likewise the event deliveries (app.webhooks.deliver()); receivers in tests are on 127.0.0.1.
    WEBHOOK_INTERVAL_MS: '0',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...env
  })
}

const migrationsDir = new URL('../src/db/migrations/', import.meta.url)

function migrationsHash (): string {
  const hash = createHash('sha256')
  for (const name of readdirSync(migrationsDir).sort()) {
    if (name.endsWith('.sql')) hash.update(name).update(readFileSync(new URL(name, migrationsDir)))
  }
  return hash.digest('hex').slice(0, 16)
}

/** With DATABASE_URL set, a new empty database on that server (dropped at teardown); else null. */
export async function freshPostgresUrl (t: Tap): Promise<string | null> {
  const adminUrl = process.env.DATABASE_URL
  if (adminUrl === undefined || adminUrl === '') return null
  const name = `cg_test_${randomBytes(6).toString('hex')}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  // Registered first so it runs last (tap runs teardowns in reverse): after the users have closed.
  t.teardown(async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end()
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * A fresh, migrated database for one test: with DATABASE_URL set (CI's real PostgreSQL), a new
 * database on that server, dropped afterwards; otherwise an in-memory PGlite seeded from a
 * migrated template kept in the temp folder (initdb once per schema, not once per test).
 */
export async function testDatabase (t: Tap): Promise<Database> {
  const url = await freshPostgresUrl(t)
  if (url !== null) {
    const database = await openDatabase({ url, pgliteDir: '' })
    t.teardown(() => database.close())
    return database
  }
  const templateFile = join(tmpdir(), `callgate-pglite-${migrationsHash()}.tar`)
  if (!existsSync(templateFile)) {
    const seed = await openDatabase({ url: null, pgliteDir: 'memory://' })
    const blob = await seed.dump!()
    await seed.close()
    const tmp = `${templateFile}.${process.pid}.tmp`
    writeFileSync(tmp, Buffer.from(await blob.arrayBuffer()))
    renameSync(tmp, templateFile)
  }
  const database = await openDatabase({ url: null, pgliteDir: 'memory://', pgliteTemplate: new Blob([readFileSync(templateFile)]) })
  t.teardown(() => database.close())
  return database
}

/** The real app, on a fresh database and an embedded S3-protocol store in a temp folder. */
export async function build (t: Tap, opts: { env?: Record<string, string>, overrides?: AppOverrides } = {}): Promise<App> {
  const config = testConfig(t, opts.env)
  const database = opts.overrides?.database ?? await testDatabase(t)
  const app = await buildApp(config, { ...opts.overrides, database })
  t.teardown(() => app.close())
  return app
}

/** Form-encodes Twilio webhook params and signs them as Twilio would for `path` under PUBLIC_URL. */
export function signedTwilio (path: string, params: Record<string, string>, opts: { url?: string, token?: string } = {}) {
  const url = opts.url ?? PUBLIC_URL + path
  return {
    method: 'POST' as const,
    url: path,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilioSignature(opts.token ?? TWILIO_TOKEN, url, params)
    },
    payload: new URLSearchParams(params).toString()
  }
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` })
export const admin = bearer(ADMIN_TOKEN)
