// One encoder for every cell of every CSV the product writes (bulk screening, DSR access
// exports), so none of them can forget the formula guard.

// A number in E.164 form, as the product writes the numbers it normalised: data that must
// round-trip unchanged, and harmless in a spreadsheet ("+" and digits name no function, no cell).
const E164 = /^\+[1-9]\d{1,14}$/
// A separator (comma, or the semicolon of locales that use it), a quote, a tab or a line break.
const NEEDS_QUOTES = /[",;\t\r\n]/

/**
 * A CSV field (RFC 4180) that a spreadsheet shows as text. A cell starting with = + - @, tab or
 * CR is taken for a formula by Excel, LibreOffice and Sheets (`=HYPERLINK(…)`, `@SUM(…)`, DDE
 * payloads): as OWASP's CSV-injection guidance says, it is prefixed with a single quote and
 * quoted, unless it is an E.164 number. A field holding a separator, a quote or a line break is
 * quoted, so no value can start a cell of its own.
 */
export function csvCell (value: string): string {
  if (value.length === 0) return value
  const first = value.charCodeAt(0)
  // = + - @ TAB CR
  if ((first === 0x3d || first === 0x2b || first === 0x2d || first === 0x40 || first === 0x09 || first === 0x0d) && !(first === 0x2b && E164.test(value))) {
    return `"'${value.replaceAll('"', '""')}"`
  }
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value
}
