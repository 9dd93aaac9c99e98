import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import * as schema from './schema.js'

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>

/**
 * Parameterised SQL straight to the driver: rows as plain objects, column names as in the table.
 * `last` (in a transaction): nothing follows; on PostgreSQL the statement goes out together with
 * COMMIT, and the promise settles once both are answered, so what it wrote is committed by then.
 */
export type RawQuery = <T = Record<string, unknown>>(text: string, params: unknown[], last?: boolean) => Promise<T[]>

/**
 * The webhook hot path's way in: fixed SQL texts, no query building, prepared once per connection
 * on PostgreSQL. Results differ by driver in one respect: timestamps come back as Date (PGlite) or
 * ISO strings (postgres.js, as drizzle configures it); jsonb is parsed by both. Pass jsonb and
 * timestamps as text and cast them in the SQL.
 */
export interface RawSql {
  query: RawQuery
  transaction<T> (fn: (query: RawQuery) => Promise<T>): Promise<T>
}

/** A timestamp column read through RawSql, whichever driver answered. */
export const rawDate = (v: unknown): Date | null => v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v))

export interface Database {
  db: Db
  raw: RawSql
  /** 'pglite' (embedded, one process) or 'postgres' (shared, many processes). */
  kind: 'pglite' | 'postgres'
  ping (): Promise<void>
  close (): Promise<void>
  /** PGlite only: the data directory as a tarball, to seed other embedded databases. */
  dump?: () => Promise<Blob>
}

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url))
// Any constant works; it only has to be the same in every process of one installation.
const MIGRATION_LOCK = 7_242_019

/**
 * Opens the database named by `url` (postgres://…) or, without one, an embedded PGlite in `pgliteDir`
 * ('memory://' for a throwaway one), and brings its schema up to date.
 */
export async function openDatabase (opts: { url: string | null, pgliteDir: string, pgliteTemplate?: Blob }): Promise<Database> {
  const database = opts.url === null ? await openPglite(opts.pgliteDir, opts.pgliteTemplate) : await openPostgres(opts.url)
  try {
    await database.ping()
  } catch (err) {
    await database.close().catch(() => {})
    throw err
  }
  return database
}

/** `template`: a dumped data directory to start from (a fresh PGlite costs seconds of initdb; a dump loads in a fraction). */
async function openPglite (dir: string, template?: Blob): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { drizzle } = await import('drizzle-orm/pglite')
  const { migrate } = await import('drizzle-orm/pglite/migrator')
  if (!dir.includes('://')) mkdirSync(dir, { recursive: true })
  const client = await PGlite.create(dir, template !== undefined ? { loadDataDir: template } : {})
  const db = drizzle(client, { schema })
  try {
    await migrate(db, { migrationsFolder })
  } catch (err) {
    await client.close()
    throw err
  }
  return {
    db: db as unknown as Db,
    raw: {
      query: async <T>(text: string, params: unknown[]) => (await client.query<T>(text, params)).rows,
      transaction: async (fn) => await client.transaction(async (tx) => await fn(async <T>(text: string, params: unknown[]) => (await tx.query<T>(text, params)).rows))
    },
    kind: 'pglite',
    ping: async () => { await db.execute(sql`select 1`) },
    close: async () => { if (!client.closed) await client.close() },
    dump: () => client.dumpDataDir('none')
  }
}

async function openPostgres (url: string): Promise<Database> {
  const { default: postgres } = await import('postgres')
  const { drizzle } = await import('drizzle-orm/postgres-js')
  const { migrate } = await import('drizzle-orm/postgres-js/migrator')
  const client = postgres(url, { max: 10, onnotice: () => {}, connect_timeout: 5 })
  const db = drizzle(client, { schema })
  // Several processes may start together: one migrates while the others wait on the lock.
  const lock = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    await lock`select pg_advisory_lock(${MIGRATION_LOCK})`
    await migrate(db, { migrationsFolder })
  } catch (err) {
    await client.end({ timeout: 1 })
    throw err
  } finally {
    await lock.end({ timeout: 1 })
  }
  const unsafe = (sql: Pick<typeof client, 'unsafe'>) => async <T>(text: string, params: unknown[]) => await sql.unsafe(text, params as never[], { prepare: true }) as unknown as T[]
  return {
    db: db as unknown as Db,
    raw: {
      query: unsafe(client),
      transaction: async (fn) => await pipelinedTransaction(client, fn)
    },
    kind: 'postgres',
    ping: async () => { await db.execute(sql`select 1`) },
    close: async () => { await client.end({ timeout: 5 }) }
  }
}

/**
 * A transaction on one reserved connection whose BEGIN is sent with the first statement and whose
 * COMMIT is sent with the statement marked `last`: postgres.js pipelines what is issued on a
 * connection without waiting, so a lock-then-write step costs two round trips instead of four.
 * After a failed statement PostgreSQL answers the pipelined COMMIT with a rollback
 * (https://www.postgresql.org/docs/current/sql-commit.html), so nothing of it is kept.
 */
async function pipelinedTransaction<T> (client: import('postgres').Sql, fn: (query: RawQuery) => Promise<T>): Promise<T> {
  const conn = await client.reserve()
  let begin: Promise<unknown> | null = conn.unsafe('begin').execute()
  let open = true
  const send = (text: string, params: unknown[]) => conn.unsafe(text, params as never[], { prepare: true }).execute()
  const query: RawQuery = async <R>(text: string, params: unknown[], last = false) => {
    if (!open) throw new Error('the transaction has ended')
    const pending: Array<Promise<unknown>> = []
    if (begin !== null) pending.push(begin)
    begin = null
    const statement = send(text, params)
    pending.push(statement)
    if (last) {
      open = false
      pending.push(conn.unsafe('commit').execute())
    }
    const settled = await Promise.allSettled(pending)
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    return await statement as unknown as R[]
  }
  try {
    const result = await fn(query)
    if (begin !== null) await begin
    if (open) {
      open = false
      await conn.unsafe('commit')
    }
    return result
  } catch (err) {
    if (open) {
      open = false
      await conn.unsafe('rollback').catch(() => {})
    }
    throw err
  } finally {
    conn.release()
  }
}
