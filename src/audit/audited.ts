import type { Db } from '../db/client.js'
import type { Tx } from '../db/executor.js'
import { appendAudit, type AuditEntry } from './append.js'

type Transactional = Pick<Db, 'transaction'>

/**
 * The one way a change and its audit entry are written: both in one transaction, so there is
 * never a change without its entry, nor an entry for a change that rolled back. `entry` may be
 * derived from what `work` returned (an id it created), or be null when `work` changed nothing
 * (a duplicate, a row already gone): no entry is then written. With an entry alone, it records a
 * read (a search, a fetch of personal data).
 */
export async function audited (db: Transactional, entry: AuditEntry): Promise<void>
export async function audited<T> (db: Transactional, work: (tx: Tx) => Promise<T>, entry: AuditEntry | ((result: T) => AuditEntry | null)): Promise<T>
export async function audited<T> (db: Transactional, first: AuditEntry | ((tx: Tx) => Promise<T>), entry?: AuditEntry | ((result: T) => AuditEntry | null)): Promise<T | undefined> {
  return await db.transaction(async (tx) => {
    const result = typeof first === 'function' ? await first(tx) : undefined
    const written = typeof first !== 'function' ? first : typeof entry === 'function' ? entry(result as T) : entry!
    if (written !== null) await appendAudit(tx, written)
    return result
  })
}
