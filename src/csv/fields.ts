/**
 * The fields of one CSV line (RFC 4180: a field in double quotes may hold commas, and "" is a
 * quote). A line is one record: a quoted field does not run on to the next line, as the lists
 * read here (a number, a reference, a time zone) never need it.
 */
export function csvFields (line: string): string[] {
  const fields: string[] = []
  let i = 0
  for (;;) {
    if (line[i] === '"') {
      let value = ''
      i++
      for (;;) {
        const quote = line.indexOf('"', i)
        if (quote === -1) { value += line.slice(i); i = line.length; break }
        value += line.slice(i, quote)
        if (line[quote + 1] === '"') { value += '"'; i = quote + 2; continue }
        i = quote + 1
        break
      }
      const comma = line.indexOf(',', i)
      // Anything between the closing quote and the comma is kept, as spreadsheets do.
      fields.push(value + (comma === -1 ? line.slice(i) : line.slice(i, comma)))
      if (comma === -1) return fields
      i = comma + 1
    } else {
      const comma = line.indexOf(',', i)
      if (comma === -1) { fields.push(line.slice(i)); return fields }
      fields.push(line.slice(i, comma))
      i = comma + 1
    }
  }
}
