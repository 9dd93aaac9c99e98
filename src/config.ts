import { randomBytes } from 'node:crypto'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { claimDataDir } from './data-dir-access.js'

/** The environment, as documented in README's configuration table. Every variable is optional. */
export const EnvSchema = Type.Object({
  PORT: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })),
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^/?#]+(/[^?#]*)?$' })),
  DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  TWILIO_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 8 })),
  TWILIO_ACCOUNT_SID: Type.Optional(Type.String({ pattern: '^AC[0-9a-fA-F]{32}$' })),
  TWILIO_API_URL: Type.Optional(Type.String({ pattern: '^https?://[^/?#]+$' })),
  S3_BUCKET: Type.Optional(Type.String({ minLength: 3 })),
  S3_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  S3_REGION: Type.Optional(Type.String({ minLength: 1 })),
  S3_FORCE_PATH_STYLE: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  S3_SSE_KMS_KEY_ID: Type.Optional(Type.String({ minLength: 1 })),
  KMS_KEY_ID: Type.Optional(Type.String({ minLength: 1 })),
  KMS_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  // Every process sharing a database must use the same two keys (see README, Scaling out).
  NUMBER_HASH_KEY: Type.Optional(Type.String({ minLength: 32 })),
  LINK_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  SWEEP_INTERVAL_SECONDS: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}$' })),
  DIALLER_INTERVAL_MS: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}$' })),
  WEBHOOK_INTERVAL_MS: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}$' })),
  WEBHOOK_ALLOW_PRIVATE: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  REQUEST_TIMEOUT_SECONDS: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,5}$' })),
  CSV_MAX_BYTES: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,11}$' })),
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })),
  OVERLOAD_MAX_EVENT_LOOP_UTILIZATION: Type.Optional(Type.String({ pattern: '^(0(\\.[0-9]{1,4})?|1(\\.0{1,4})?)$' })),
  OVERLOAD_DATABASE_CHECK_MS: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}$' })),
  LOG_LEVEL: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))))
})
export type Env = Static<typeof EnvSchema>

export interface S3Config {
  /** null: start the embedded S3-protocol store on 127.0.0.1 over DATA_DIR/s3. */
  endpoint: string | null
  bucket: string
  region: string
  forcePathStyle: boolean
  sseKmsKeyId: string | null
}

export interface Config {
  port: number
  host: string
  publicUrl: string
  dataDir: string
  /** null: embedded PGlite under DATA_DIR/pglite. */
  databaseUrl: string | null
  twilioAuthToken: string
  twilioAccountSid: string | null
  /** Base URL of Twilio's REST API (a stand-in in tests). */
  twilioApiUrl: string
  adminToken: string
  /** Key for HMAC-SHA-256 of phone numbers kept only for matching. */
  numberHashKey: string
  /** Key for signed recording links. */
  linkSecret: string
  s3: S3Config
  kms: { keyId: string | null, endpoint: string | null }
  logLevel: string
  /** How often the retention sweeper runs; 0 turns it off. */
  sweepIntervalSeconds: number
  /** How often each process's dialler takes its turn at the running campaigns; 0 turns its timer off. */
  diallerIntervalMs: number
  /** How often each process's event deliverer looks for due deliveries; 0 turns its timer off. */
  webhookIntervalMs: number
  /** Event endpoints may be on loopback, private or link-local addresses (tests, a receiver beside us). */
  webhookAllowPrivate: boolean
  /**
   * How long a client has to send a whole request, headers and body (Node's requestTimeout):
   * a body dribbled byte by byte is cut off with 408. The response is not counted.
   */
  requestTimeoutMs: number
  /** The largest text/csv body a list import or a screening takes (413 above it). */
  csvMaxBytes: number
  /** Load shedding (src/plugins/overload.ts); 0 turns a check off. */
  overload: {
    /** Mean event-loop delay over a one-second sample above which requests get 503. */
    maxEventLoopDelayMs: number
    /** Share of a sample the event loop was busy (0–1) above which requests get 503. */
    maxEventLoopUtilization: number
    /** How often the database is pinged (a 2 s limit per ping). */
    databaseCheckMs: number
  }
  /** Names of the secrets generated into DATA_DIR by this load (to be shown once). */
  generated: Array<'twilioAuthToken' | 'adminToken'>
}

export class ConfigError extends Error {}

interface Secrets { twilioAuthToken: string, adminToken: string, numberHashKey: string, linkSecret: string }

/** Parses the environment and resolves the secrets kept in DATA_DIR (creating them on first run). */
export function loadConfig (raw: Record<string, string | undefined>): Config {
  const env = pickEnv(raw)
  const problems = [...Value.Errors(EnvSchema, env)]
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => `${p.instancePath.slice(1) || 'environment'}: ${p.message}`).join('; '))
  }
  const port = Number(env.PORT ?? 3000)
  if (port > 65535) throw new ConfigError('PORT: must be at most 65535')
  const host = env.HOST ?? '127.0.0.1'
  const dataDir = resolve(env.DATA_DIR ?? './data')
  const { secrets, generated } = loadSecrets(dataDir)
  if (env.TWILIO_AUTH_TOKEN !== undefined) removeItem(generated, 'twilioAuthToken')
  if (env.ADMIN_TOKEN !== undefined) removeItem(generated, 'adminToken')
  return {
    port,
    host,
    publicUrl: (env.PUBLIC_URL ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, ''),
    dataDir,
    databaseUrl: env.DATABASE_URL ?? null,
    twilioAuthToken: env.TWILIO_AUTH_TOKEN ?? secrets.twilioAuthToken,
    twilioAccountSid: env.TWILIO_ACCOUNT_SID ?? null,
    twilioApiUrl: env.TWILIO_API_URL ?? 'https://api.twilio.com',
    adminToken: env.ADMIN_TOKEN ?? secrets.adminToken,
    numberHashKey: env.NUMBER_HASH_KEY ?? secrets.numberHashKey,
    linkSecret: env.LINK_SECRET ?? secrets.linkSecret,
    s3: {
      endpoint: env.S3_ENDPOINT ?? null,
      bucket: env.S3_BUCKET ?? 'callgate-recordings',
      region: env.S3_REGION ?? 'us-east-1',
      forcePathStyle: env.S3_FORCE_PATH_STYLE !== undefined ? env.S3_FORCE_PATH_STYLE === 'true' : env.S3_ENDPOINT === undefined,
      sseKmsKeyId: env.S3_SSE_KMS_KEY_ID ?? null
    },
    kms: { keyId: env.KMS_KEY_ID ?? null, endpoint: env.KMS_ENDPOINT ?? null },
    logLevel: env.LOG_LEVEL ?? 'info',
    sweepIntervalSeconds: Number(env.SWEEP_INTERVAL_SECONDS ?? 3600),
    diallerIntervalMs: Number(env.DIALLER_INTERVAL_MS ?? 1000),
    webhookIntervalMs: Number(env.WEBHOOK_INTERVAL_MS ?? 1000),
    webhookAllowPrivate: env.WEBHOOK_ALLOW_PRIVATE === 'true',
    // Node's own default (Fastify turns it off). A streamed import reads its body only as fast
    // as it writes rows (a million numbers: 40 s on PGlite on a 2-core machine): larger registers
    // need a larger value.
    requestTimeoutMs: Number(env.REQUEST_TIMEOUT_SECONDS ?? 300) * 1000,
    // 512 MiB: a national register of ~35 million numbers; streamed, so memory does not grow with it.
    csvMaxBytes: Number(env.CSV_MAX_BYTES ?? 512 * 1024 * 1024),
    // A mean lag of a second means every caller already hears a second of silence per step; below
    // that, shedding would turn away work a busy but healthy process still finishes in time.
    // Utilisation is off by default: a process at its capacity is busy ~100 % and still on time.
    overload: {
      maxEventLoopDelayMs: Number(env.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS ?? 1000),
      maxEventLoopUtilization: Number(env.OVERLOAD_MAX_EVENT_LOOP_UTILIZATION ?? 0),
      databaseCheckMs: Number(env.OVERLOAD_DATABASE_CHECK_MS ?? 2000)
    },
    generated
  }
}

function pickEnv (raw: Record<string, string | undefined>): Env {
  const env: Record<string, string> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = raw[key]
    if (value !== undefined && value !== '') env[key] = value
  }
  return env as Env
}

function removeItem<T> (list: T[], item: T): void {
  const i = list.indexOf(item)
  if (i >= 0) list.splice(i, 1)
}

const SECRET_NAMES = ['twilioAuthToken', 'adminToken', 'numberHashKey', 'linkSecret'] as const

/**
 * Secrets live in DATA_DIR/secrets.json (mode 0600). Missing ones are generated and the file is
 * replaced atomically, so a crash never leaves it half-written.
 */
function loadSecrets (dataDir: string): { secrets: Secrets, generated: Config['generated'] } {
  // Before the secrets are read: they must not come from, or go to, a folder another user owns.
  claimDataDir(dataDir)
  const file = join(dataDir, 'secrets.json')
  let stored: Partial<Secrets> = {}
  try {
    stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`${file}: ${(err as Error).message}`)
  }
  const generated: Config['generated'] = []
  const secrets = { ...stored } as Secrets
  for (const name of SECRET_NAMES) {
    if (typeof secrets[name] === 'string' && secrets[name].length > 0) continue
    // Twilio auth tokens are 32 hex characters; keep the generated one in that shape.
    secrets[name] = name === 'twilioAuthToken' ? randomBytes(16).toString('hex') : randomBytes(32).toString('base64url')
    if (name === 'twilioAuthToken' || name === 'adminToken') generated.push(name)
  }
  if (SECRET_NAMES.some((n) => stored[n] !== secrets[n])) {
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 })
    renameSync(tmp, file)
  }
  return { secrets, generated }
}
