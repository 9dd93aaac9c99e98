import { csvCell } from '../csv/cell.js'
import { splitLines } from '../csv/lines.js'
import { normalizeNumber } from '../privacy/phone.js'
import { NumberHasher } from '../privacy/number-hash.js'
import { flagsOf, type ScreeningSet } from './screening-set.js'
import { verdict } from './verdict.js'

export const CSV_HEADER = 'input,number,result\r\n'

/**
 * Screens lines of a CSV list (the number is the first field; blank lines are skipped) against a
 * ScreeningSet, and answers the CSV rows: the input as given, its E.164 form, and "callable" or
 * the reason. The hot loop of a bulk screening, run in worker threads (screen-workers.ts), on
 * chunks of csvLineChunks (whose lines are at most CSV_MAX_LINE_BYTES). The input is echoed
 * through csvCell: what a client sends must not come back as a spreadsheet formula.
 */
export function screenCsvLines (text: string, set: ScreeningSet, hasher: NumberHasher, country: string | null): string {
  let out = ''
  for (const line of splitLines(text)) {
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
    out += `${csvCell(input)},${number === null ? '' : csvCell(number)},${result}\r\n`
  }
  return out
}
