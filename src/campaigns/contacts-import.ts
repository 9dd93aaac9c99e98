import { addContacts, type NewContact } from '../db/contacts.js'
import type { Executor } from '../db/executor.js'
import type { FieldCipher } from '../crypto/field-cipher.js'
import { BatchWriter } from '../csv/batch-writer.js'
import { csvFields } from '../csv/fields.js'
import { csvLineChunks, CsvLineTooLong, CsvTooLarge, splitLines } from '../csv/lines.js'
import { isValidTimeZone } from '../flows/index.js'
import { hashNumber } from '../privacy/number-hash.js'
import { normalizeNumber } from '../privacy/phone.js'
import { ImportStopped } from '../suppression/import.js'

const BATCH = 2000
const MAX_INVALID_LINES = 100
const MAX_REFERENCE = 100
const CHUNK_BYTES = 64 * 1024

export interface ContactImport { lines: number, added: number, duplicates: number, invalid: number, invalidLines: number[] }

export interface ContactImportDeps { db: Executor, numberHashKey: string, fields: FieldCipher }

/**
 * Reads a contact list (`number[,reference[,timezone]]` a line, a header row recognised) into a
 * campaign. Streamed a chunk of lines at a time and written in batches while the next is read,
 * so memory stays flat whatever the length of the list; a number already on the campaign's list
 * (or twice in the file) is a duplicate, not an error. Each number is normalised to E.164 (with
 * `country` for national numbers), kept as its keyed hash and sealed under the tenant's key; a
 * line whose number, reference or time zone does not hold is reported by its line number.
 * A limit broken part-way stops it (ImportStopped): the batches before stay, as for suppressions.
 */
export async function importContacts (deps: ContactImportDeps, input: AsyncIterable<Buffer | string>, opts: { tenantId: string, campaignId: string, country: string | null, at: Date, maxBytes: number }): Promise<ContactImport> {
  const result: ContactImport = { lines: 0, added: 0, duplicates: 0, invalid: 0, invalidLines: [] }
  let batch: NewContact[] = []
  const writer = new BatchWriter<NewContact>(
    async (list) => await addContacts(deps.db, opts.tenantId, opts.campaignId, list, opts.at),
    (size, added) => { result.added += added; result.duplicates += size - added })
  const zones = new Map<string, boolean>()
  const knownZone = (zone: string) => {
    let known = zones.get(zone)
    if (known === undefined) zones.set(zone, known = isValidTimeZone(zone))
    return known
  }
  const invalid = () => {
    result.invalid++
    if (result.invalidLines.length < MAX_INVALID_LINES) result.invalidLines.push(result.lines)
  }
  try {
    for await (const text of csvLineChunks(input, { chunkBytes: CHUNK_BYTES, maxBytes: opts.maxBytes })) {
      for (const raw of splitLines(text)) {
        result.lines++
        const [first = '', second = '', third = ''] = csvFields(raw).map((f) => f.trim())
        if (first === '' && second === '' && third === '') continue
        if (result.lines === 1 && /^[a-z _]+$/i.test(first)) continue
        const number = normalizeNumber(first, opts.country)
        const timezone = third === '' ? null : third
        if (number === null || second.length > MAX_REFERENCE || (timezone !== null && !knownZone(timezone))) {
          invalid()
          continue
        }
        batch.push({
          numberHash: hashNumber(deps.numberHashKey, number),
          numberSealed: deps.fields.seal(number, opts.campaignId),
          reference: second === '' ? null : second,
          timezone
        })
        if (batch.length >= BATCH) { await writer.push(batch, result.lines); batch = [] }
      }
    }
  } catch (error) {
    if (!(error instanceof CsvLineTooLong) && !(error instanceof CsvTooLarge)) throw error
    await writer.settle()
    throw new ImportStopped(error, result, writer.linesStored)
  }
  await writer.push(batch, result.lines)
  await writer.settle()
  return result
}
