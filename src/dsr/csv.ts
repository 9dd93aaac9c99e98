import { csvCell } from '../csv/cell.js'

/**
 * RFC 4180 CSV: a header row from the first object's keys, each field through csvCell (quoted
 * when it must be, and never read as a formula: a prompt an operator wrote can start with "=").
 */
export function toCsv (rows: Array<Record<string, unknown>>, columns?: string[]): string {
  const keys = columns ?? Object.keys(rows[0] ?? {})
  const field = (value: unknown): string => csvCell(value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value))
  return [keys.map(csvCell).join(','), ...rows.map((row) => keys.map((k) => field(row[k])).join(','))].join('\r\n') + '\r\n'
}
