import type { FastifyError } from 'fastify'
import type { Db } from '../db/client.js'
import { addSuppressions, type SuppressionSource } from '../db/suppressions.js'
import { BatchWriter } from '../csv/batch-writer.js'
import { csvLineChunks, CsvLineTooLong, CsvTooLarge, splitLines } from '../csv/lines.js'
import { normalizeNumber } from '../privacy/phone.js'
import { hashNumber } from '../privacy/number-hash.js'

const BATCH = 5000
const MAX_INVALID_LINES = 100
// Bytes of the list parsed at a time.
const CHUNK_BYTES = 64 * 1024

export interface ImportResult { lines: number, added: number, alreadyPresent: number, invalid: number, invalidLines: number[] }

/**
 * A list refused part-way by a limit (a line too long, a body too large). Batches are stored as
 * the list is read (one transaction for the whole list would hold the embedded database's only
 * session, and with it every webhook, for as long as the client takes to send), so the batches
 * stored before the stop stay: `result` counts them and the message says so. An import only
 * adds, and adding a number twice is a no-op, so sending the corrected list again completes it.
 */
export class ImportStopped<R extends { added: number } = ImportResult> extends Error {
  readonly statusCode: number
  readonly code: string
  constructor (cause: FastifyError, readonly result: R, linesStored: number) {
    super(`${cause.message}; ${linesStored === 0 ? 'nothing was imported' : `the import stopped after line ${linesStored}, ${result.added} numbers added (send the corrected list again to complete it: numbers already listed are skipped)`}`)
    this.statusCode = cause.statusCode ?? 400
    this.code = cause.code
  }
}

/**
 * Reads a list of numbers (one per line, or CSV whose first column is the number, as a national
 * register such as the UK TPS file is) and adds them as suppressions. Streamed a chunk of lines at
 * a time and written in batches, so a file of millions of lines never sits in memory; a line over
 * CSV_MAX_LINE_BYTES or a body over `maxBytes` stops it (ImportStopped).
 */
export async function importSuppressions (db: Db, hashKey: string, input: AsyncIterable<Buffer | string>, opts: { tenantId: string, source: SuppressionSource, country: string | null, createdBy: string | null, at: Date, maxBytes: number }): Promise<ImportResult> {
  const result: ImportResult = { lines: 0, added: 0, alreadyPresent: 0, invalid: 0, invalidLines: [] }
  let batch: string[] = []
  const writer = new BatchWriter<string>(
    async (hashes) => await addSuppressions(db, opts.tenantId, hashes, opts.source, null, opts.createdBy, opts.at),
    (size, added) => { result.added += added; result.alreadyPresent += size - added })
  try {
    for await (const text of csvLineChunks(input, { chunkBytes: CHUNK_BYTES, maxBytes: opts.maxBytes })) {
      for (const raw of splitLines(text)) {
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
        if (batch.length >= BATCH) { await writer.push(batch, result.lines); batch = [] }
      }
    }
  } catch (error) {
    if (!(error instanceof CsvLineTooLong) && !(error instanceof CsvTooLarge)) throw error
    // The batch being written is let finish (so the answer can say what is stored); the rest is not written.
    await writer.settle()
    throw new ImportStopped(error, result, writer.linesStored)
  }
  await writer.push(batch, result.lines)
  await writer.settle() // the last batch: stored before the import reports it
  return result
}
