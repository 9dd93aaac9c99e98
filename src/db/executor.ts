import type { Db } from './client.js'

/** The database or a transaction on it: repositories take either, so callers decide the unit of work. */
export type Executor = Pick<Db, 'select' | 'insert' | 'update' | 'delete' | 'execute'>

/** A transaction: an Executor that can also open a savepoint (a nested transaction). */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

/** The rows of `db.execute`: postgres.js answers an array, PGlite an object holding `rows`. */
export function rowsOf<T> (result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}
