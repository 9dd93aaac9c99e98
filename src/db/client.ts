import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import * as schema from './schema.js'

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>

/** Parameterised SQL straight to the driver: rows as plain objects, column names as in the table. */
export type RawQuery = <T = Record<string, unknown>>(text: string, params: unknown[]) => Promise<T[]>

/**
 * The webhook hot path's way in: fixed SQL texts, no query building, prepared once per connection
 * on PostgreSQL. Each statement commits on its own. Results differ by driver in one respect:
 * timestamps come back as Date (PGlite) or ISO strings (postgres.js, as drizzle configures it);
 * jsonb is parsed by both. Pass jsonb and timestamps as text and cast them in the SQL.
 */
export interface RawSql {
  query: RawQuery
  /**
   * `fn`'s statements on one connection (each still commits on its own): on PostgreSQL those
   * issued together go out in one write and wake one backend, instead of one per pooled
   * connection they would otherwise be spread over.
   */
  session<T> (fn: (query: RawQuery) => Promise<T>): Promise<T>
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
  const query: RawQuery = async <T>(text: string, params: unknown[]) => (await client.query<T>(text, params)).rows
  return {
    db: db as unknown as Db,
    raw: {
      query,
      session: async (fn) => await fn(query)
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
  const on = (sql: Pick<typeof client, 'unsafe'>): RawQuery => async <T>(text: string, params: unknown[]) => await sql.unsafe(text, params as never[], { prepare: true }) as unknown as T[]
  return {
    db: db as unknown as Db,
    raw: {
      query: on(client),
      session: async (fn) => {
        const conn = await client.reserve()
        try {
          return await fn(on(conn))
        } finally {
          conn.release()
        }
      }
    },
    kind: 'postgres',
    ping: async () => { await db.execute(sql`select 1`) },
    close: async () => { await client.end({ timeout: 5 }) }
  }
}
