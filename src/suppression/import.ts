import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { Db } from '../db/client.js'
import { addSuppressions, type SuppressionSource } from '../db/suppressions.js'
import { normalizeNumber } from '../privacy/phone.js'
import { hashNumber } from '../privacy/number-hash.js'

const BATCH = 5000
const MAX_INVALID_LINES = 100

export interface ImportResult { lines: number, added: number, alreadyPresent: number, invalid: number, invalidLines: number[] }

/**
 * Reads a list of numbers (one per line, or CSV whose first column is the number, as a national
 * register such as the UK TPS file is) and adds them as suppressions. Streamed line by line and
 * written in batches, so a file of millions of lines never sits in memory.
 */
export async function importSuppressions (db: Db, hashKey: string, input: Readable, opts: { tenantId: string, source: SuppressionSource, country: string | null, createdBy: string | null, at: Date }): Promise<ImportResult> {
  const result: ImportResult = { lines: 0, added: 0, alreadyPresent: 0, invalid: 0, invalidLines: [] }
  let batch: string[] = []
  // One batch is written while the next is read and hashed: the database and the parsing overlap
  // (on PostgreSQL they are different processes). Never more than one statement outstanding, so
  // two batches holding the same number never wait on each other's row locks.
  let writing: Promise<void> | null = null
  const flush = async () => {
    if (writing !== null) { const previous = writing; writing = null; await previous }
    if (batch.length === 0) return
    const hashes = batch
    batch = []
    writing = addSuppressions(db, opts.tenantId, hashes, opts.source, null, opts.createdBy, opts.at).then((added) => {
      result.added += added
      result.alreadyPresent += hashes.length - added
    })
    // Awaited at the next flush or at the end; until then a failure must not count as unhandled.
    writing.catch(() => {})
  }
  for await (const raw of createInterface({ input, crlfDelay: Infinity })) {
    result.lines++
    const field = raw.split(',')[0]!.trim().replace(/^"(.*)"$/, '$1')
    if (field === '') continue
    // A header row ("number", "telephone") is not a number and not an error either.
    if (result.lines === 1 && /^[a-z _]+$/i.test(field)) continue
    const number = normalizeNumber(field, opts.country)
    if (number === null) {
      result.invalid++
      if (result.invalidLines.length < MAX_INVALID_LINES) result.invalidLines.push(result.lines)
      continue
    }
    batch.push(hashNumber(hashKey, number))
    if (batch.length >= BATCH) await flush()
  }
  await flush()
  await flush() // the last batch: stored before the import reports it
  return result
}
