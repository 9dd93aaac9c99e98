// Real processes for the reliability tests: callgate servers (src/server.ts as a child process),
// a standalone S3-protocol server, a throwaway PostgreSQL cluster the test may stop and start.
// Everything listens on 127.0.0.1 and is torn down with the test.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../harness/ports.js'
import { spawnServer, type SpawnedServer } from '../harness/spawn-server.js'
import { ADMIN_TOKEN, PUBLIC_URL, TWILIO_TOKEN } from '../helper.js'

interface Teardown { teardown (fn: () => unknown): void }

function tempDir (t: Teardown, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface S3Endpoint { endpoint: string, bucket: string, accessKeyId: string, secretAccessKey: string }

/** The S3-protocol store (scripts/s3-server.ts) in its own process, with the bucket created. */
export async function startS3 (t: Teardown, bucket = 'callgate-recordings'): Promise<S3Endpoint> {
  const dir = tempDir(t, 'callgate-s3-')
  const listening = /^listening (http:\/\/127\.0\.0\.1:\d+)$/m
  const s3 = await spawnServer(t, { script: 'scripts/s3-server.ts', args: [dir, '0', bucket], ready: { line: listening } })
  await s3.ready
  // It signs nothing but requests made with the credentials it generated there.
  const { accessKeyId, secretAccessKey } = JSON.parse(readFileSync(join(dir, 's3-credentials.json'), 'utf8')) as { accessKeyId: string, secretAccessKey: string }
  return { endpoint: listening.exec(s3.stdout())![1]!, bucket, accessKeyId, secretAccessKey }
}

export interface ServerProcess {
  port: number
  url: string
  dataDir: string
  /** Exit code or signal of the last run, once it ended. */
  exited: Promise<number | string>
  /** The last few KB of what the process printed (its log lines are JSON). */
  output (): string
  start (): Promise<void>
  kill (signal?: NodeJS.Signals): Promise<void>
}

/**
 * src/server.ts in a child process, as `npm start` runs it, started (and started again) on the
 * same port and data folder. `env` adds to a base that makes the processes of one test
 * interchangeable: same PUBLIC_URL (the load balancer's), tokens and keys.
 */
export function serverProcess (t: Teardown, env: Record<string, string>): ServerProcess {
  const dataDir = tempDir(t, 'callgate-proc-')
  let running: SpawnedServer | null = null
  let last: SpawnedServer | null = null
  const server: ServerProcess = {
    port: 0,
    url: '',
    dataDir,
    exited: Promise.resolve(0),
    output: () => last?.output() ?? '',
    async start () {
      if (server.port === 0) {
        server.port = await freePort()
        server.url = `http://127.0.0.1:${server.port}`
      }
      running = last = await spawnServer(t, {
        port: server.port,
        env: {
          DATA_DIR: dataDir,
          HOST: '127.0.0.1',
          PUBLIC_URL,
          TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
          ADMIN_TOKEN,
          LOG_LEVEL: 'warn',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          ...env
        },
        reportUnexpectedExit: true
      })
      server.exited = running.exited
      await running.ready
    },
    async kill (signal = 'SIGKILL') {
      if (running === null) return
      const child = running
      running = null
      await child.kill(signal)
    }
  }
  return server
}

const PG_BIN = (() => {
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return null
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(a) - Number(b))
  return versions.length > 0 ? join(base, versions.at(-1)!, 'bin') : null
})()

/** Why a throwaway cluster cannot be made here, or null when it can. */
export const postgresUnavailable = PG_BIN === null
  ? 'no PostgreSQL binaries under /usr/lib/postgresql'
  : process.getuid?.() === 0 && spawnSync('id', ['postgres']).status !== 0 ? 'running as root and there is no postgres user' : null

/**
 * A PostgreSQL cluster of the test's own, which it may stop (an outage) and start again on the
 * same port and data. initdb refuses root, so as root the cluster belongs to the postgres user.
 */
export async function throwawayPostgres (t: Teardown): Promise<{ url: string, stop (): void, start (): void }> {
  if (PG_BIN === null) throw new Error('no PostgreSQL binaries')
  const dir = tempDir(t, 'callgate-pg-')
  const asRoot = process.getuid?.() === 0
  if (asRoot) chownSync(dir, Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim()), Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim()))
  const run = (cmd: string, args: string[]) => {
    const r = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args]) : spawnSync(join(PG_BIN, cmd), args)
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.toString()}`)
  }
  const port = await freePort()
  run('initdb', ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'])
  const start = () => run('pg_ctl', ['-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-o', `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off`, 'start'])
  const stopNow = () => run('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop'])
  start()
  t.teardown(() => { try { stopNow() } catch {} })
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop: stopNow, start }
}

/** The environment every process of one installation shares: database, bucket, KMS and keys. */
export function installationEnv (o: { databaseUrl: string, s3: S3Endpoint, kmsEndpoint: string, numberHashKey: string }): Record<string, string> {
  return {
    DATABASE_URL: o.databaseUrl,
    S3_ENDPOINT: o.s3.endpoint,
    S3_BUCKET: o.s3.bucket,
    S3_FORCE_PATH_STYLE: 'true',
    S3_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: o.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: o.s3.secretAccessKey,
    KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/installation',
    KMS_ENDPOINT: o.kmsEndpoint,
    NUMBER_HASH_KEY: o.numberHashKey,
    LINK_SECRET: randomBytes(32).toString('base64url'),
    SWEEP_INTERVAL_SECONDS: '1'
  }
}
