/** RFC 4180 CSV: a header row from the first object's keys, fields quoted when they need it. */
export function toCsv (rows: Array<Record<string, unknown>>, columns?: string[]): string {
  const keys = columns ?? Object.keys(rows[0] ?? {})
  const field = (value: unknown): string => {
    const text = value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value)
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
  }
  return [keys.join(','), ...rows.map((row) => keys.map((k) => field(row[k])).join(','))].join('\r\n') + '\r\n'
}
