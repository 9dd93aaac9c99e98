import { normalizeNumber } from '../privacy/phone.js'
import { NumberHasher } from '../privacy/number-hash.js'
import { flagsOf, type ScreeningSet } from './screening-set.js'
import { verdict } from './verdict.js'

export const CSV_HEADER = 'input,number,result\r\n'

/**
 * Screens lines of a CSV list (the number is the first field; blank lines are skipped) against a
 * ScreeningSet, and answers the CSV rows: the input as given, its E.164 form, and "callable" or
 * the reason. The hot loop of a bulk screening, run in worker threads (screen-workers.ts).
 */
export function screenCsvLines (text: string, set: ScreeningSet, hasher: NumberHasher, country: string | null): string {
  let out = ''
  for (const line of text.split('\n')) {
    const comma = line.indexOf(',')
    const input = (comma === -1 ? line : line.slice(0, comma)).trim()
    if (input === '') continue
    const number = normalizeNumber(input, country)
    let result: string
    if (number === null) result = 'invalid'
    else {
      const hash = hasher.digest(number)
      result = verdict(flagsOf(set, ((hash[0]! << 24) | (hash[1]! << 16) | (hash[2]! << 8) | hash[3]!) >>> 0, ((hash[4]! << 24) | (hash[5]! << 16) | (hash[6]! << 8) | hash[7]!) >>> 0)) ?? 'callable'
    }
    out += `${input.includes('"') ? `"${input.replaceAll('"', '""')}"` : input},${number ?? ''},${result}\r\n`
  }
  return out
}

/**
 * Re-cuts a byte stream into strings of whole lines of about `size` bytes. Cut only after a
 * newline byte, which never falls inside a UTF-8 sequence, so no character is split.
 */
export async function * lineChunks (body: AsyncIterable<Buffer | string>, size: number): AsyncGenerator<string> {
  let held: Buffer[] = []
  let heldBytes = 0
  for await (const piece of body) {
    let chunk = typeof piece === 'string' ? Buffer.from(piece) : piece
    while (chunk.length > 0) {
      // Short of `size`: keep it all. Past it: cut at the first newline from there on.
      const end = heldBytes + chunk.length < size ? -1 : chunk.indexOf(10, Math.max(size - heldBytes, 0))
      if (end === -1) { held.push(chunk); heldBytes += chunk.length; break }
      held.push(chunk.subarray(0, end + 1))
      yield Buffer.concat(held).toString('utf8')
      held = []
      heldBytes = 0
      chunk = chunk.subarray(end + 1)
    }
  }
  if (heldBytes > 0) yield Buffer.concat(held).toString('utf8')
}
