import { Readable } from 'node:stream'
import createError from '@fastify/error'

/**
 * The longest line a CSV list may have, in bytes, line end excluded. A line of a list is a
 * number and perhaps a reference or a name (`number[,reference[,timezone]]`): a few dozen bytes.
 * 1 KiB leaves room for a spreadsheet export with a few more columns and still bounds what is
 * held of a line (and echoed from it) whatever the client sends.
 */
export const CSV_MAX_LINE_BYTES = 1024

export const CsvLineTooLong = createError<[string]>('CG_CSV_LINE_TOO_LONG', '%s', 400)
export const CsvTooLarge = createError<[string]>('CG_CSV_TOO_LARGE', '%s', 413)

export const lineTooLongMessage = (line: number) => `line ${line} is longer than ${CSV_MAX_LINE_BYTES} bytes, the limit for a line of a list`
export const tooLargeMessage = (maxBytes: number) => `the list is larger than ${maxBytes} bytes, the limit for a text/csv body (CSV_MAX_BYTES)`

/**
 * Re-cuts a byte stream into strings of whole lines of at least `chunkBytes` (the last may be
 * shorter), checking as the bytes go by that no line is longer than CSV_MAX_LINE_BYTES and the
 * body no larger than `maxBytes`: past either limit it throws (CsvLineTooLong, CsvTooLarge)
 * having held at most a chunk and a piece, never the offending line or body whole. A line ends
 * at LF, CRLF or a lone CR (Excel for Mac's "CSV (Macintosh)"), as node:readline reads lines.
 * A cut falls after a line end, never between CR and LF, and never inside a UTF-8 sequence
 * (whose bytes are all ≥ 0x80). Pulled by `for await`, so the body is read only as fast as
 * the chunks are consumed.
 */
export async function * csvLineChunks (body: AsyncIterable<Buffer | string>, opts: { chunkBytes: number, maxBytes: number }): AsyncGenerator<string> {
  const scanner = new LineScanner(opts.chunkBytes)
  let total = 0
  let held: Buffer[] = []
  let heldBytes = 0
  // A request body stopped at a line too long is left as it is (not destroyed, as `for await` on
  // a Readable would do): the server discards the rest and the client hears the 400, instead of a
  // connection reset in the middle of its upload.
  const pieces = body instanceof Readable ? body.iterator({ destroyOnReturn: false }) : body
  for await (const piece of pieces) {
    const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece
    total += bytes.length
    if (total > opts.maxBytes) {
      // Past the size limit the rest is not read, not even to discard it: it may be endless.
      if (body instanceof Readable) body.destroy()
      throw new CsvTooLarge(tooLargeMessage(opts.maxBytes))
    }
    let from = 0
    for (const cut of scanner.scan(bytes, heldBytes)) {
      held.push(bytes.subarray(from, cut))
      yield Buffer.concat(held).toString('utf8')
      held = []
      heldBytes = 0
      from = cut
    }
    if (from < bytes.length) { held.push(bytes.subarray(from)); heldBytes += bytes.length - from }
  }
  if (heldBytes > 0) yield Buffer.concat(held).toString('utf8')
}

/**
 * The lines of a chunk from csvLineChunks: split at LF, CRLF or CR; the empty string after a
 * final line end is no line.
 */
export function splitLines (text: string): string[] {
  const lines = text.indexOf('\r') === -1 ? text.split('\n') : text.split(/\r\n?|\n/)
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  return lines
}

/** The byte scan behind csvLineChunks: one pass over every byte, in a plain loop (no call per line). */
class LineScanner {
  private line = 1
  private lineBytes = 0
  private afterCr = false

  constructor (private readonly chunkBytes: number) {}

  /** Where to cut `bytes`, `heldBytes` being held from before it; throws at a line too long. */
  scan (bytes: Buffer, heldBytes: number): number[] {
    const cuts: number[] = []
    let start = -heldBytes // where the bytes not yet cut off began, relative to `bytes`
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!
      if (b === 10 || b === 13) {
        if (b === 13 || !this.afterCr) this.line++
        this.afterCr = b === 13
        this.lineBytes = 0
        // A CR as the last byte may yet be followed by its LF: no cut there.
        if (i + 1 - start >= this.chunkBytes && (b === 10 || (i + 1 < bytes.length && bytes[i + 1] !== 10))) {
          cuts.push(i + 1)
          start = i + 1
        }
      } else {
        this.afterCr = false
        if (++this.lineBytes > CSV_MAX_LINE_BYTES) throw new CsvLineTooLong(lineTooLongMessage(this.line))
      }
    }
    return cuts
  }
}
