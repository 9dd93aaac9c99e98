// The webhook hot path writes with fixed SQL texts (src/db/step-sql.ts), not through drizzle, so a
// schema change would not reach them by itself. Every column they name is checked here against
// the drizzle schema, and every column a row cannot be inserted without must be written: a new
// NOT NULL column, a renamed one or a changed type fails this test instead of the first webhook.
import { getTableColumns, getTableName, type Table } from 'drizzle-orm'
import t from 'tap'
import * as schema from '../../src/db/schema.js'
import * as stepSql from '../../src/db/step-sql.js'

const tables = new Map<string, Table>()
for (const value of Object.values(schema)) {
  if (value !== null && typeof value === 'object' && Symbol.for('drizzle:IsDrizzleTable') in value) tables.set(getTableName(value as Table), value as Table)
}

/** DB column name → its drizzle column, for a table named in SQL. */
function columnsOf (table: string) {
  const found = tables.get(table)
  if (found === undefined) return undefined
  return new Map(Object.values(getTableColumns(found)).map((c) => [c.name, c]))
}

// How the statements spell a column's type in their jsonb_to_recordset lists, as the schema does.
const SPELLINGS: Record<string, string> = { int: 'integer', bool: 'boolean', timestamptz: 'timestamp with time zone' }
const normalType = (type: string): string => {
  const bare = type.toLowerCase().replace(/\s+collate\s+"c"/, '').trim()
  return SPELLINGS[bare] ?? bare
}

/** The hot path's statements: every string the module exports. */
const statements = (Object.entries(stepSql) as Array<[string, unknown]>).filter((e): e is [string, string] => typeof e[1] === 'string')

t.test('the hot path\'s statements are all checked', async (t) => {
  t.same(statements.map(([name]) => name).sort(), ['READ_CALLS', 'READ_DEFINITION', 'READ_ROUTES', 'START_CALLS', 'WRITE_STEPS'])
  t.ok(tables.size >= 5, 'the schema\'s tables are found')
})

for (const [name, text] of statements) {
  t.test(name, async (t) => {
    const sqlText = text.replace(/\s+/g, ' ')
    // Aliases: `from calls c`, `join campaigns ca`, `update calls c`.
    const aliases = new Map<string, string>()
    for (const m of sqlText.matchAll(/\b(?:from|join|update) (\w+) (\w+)\b/g)) {
      if (columnsOf(m[1]!) !== undefined && !['on', 'set', 'where', 'left', 'join'].includes(m[2]!)) aliases.set(m[2]!, m[1]!)
    }
    for (const m of sqlText.matchAll(/\b(\w+)\.(\w+)\b/g)) {
      const table = aliases.get(m[1]!)
      if (table === undefined) continue
      t.ok(columnsOf(table)!.has(m[2]!), `${table}.${m[2]} (as ${m[0]}) is a column of the schema`)
    }
    // A bare table after from/where (`from flow_versions where flow_id = …`).
    for (const m of sqlText.matchAll(/\bfrom (\w+) where (\w+) =/g)) {
      const columns = columnsOf(m[1]!)
      if (columns !== undefined) t.ok(columns.has(m[2]!), `${m[1]}.${m[2]} is a column of the schema`)
    }

    // Record shapes of the jsonb lists: the type each name is read as.
    const shapeTypes = new Map<string, string>()
    for (const m of sqlText.matchAll(/jsonb_to_recordset\([^)]*\) as \w+\(([^)]*)\)/g)) {
      for (const part of m[1]!.split(',')) {
        const [col, ...type] = part.trim().split(' ')
        shapeTypes.set(col!, normalType(type.join(' ')))
      }
    }

    for (const m of sqlText.matchAll(/\binsert into (\w+) \(([^)]*)\) select (.*?) from /g)) {
      const table = m[1]!
      const columns = columnsOf(table)
      t.ok(columns, `${table} is a table of the schema`)
      if (columns === undefined) continue
      const written = m[2]!.split(',').map((c) => c.trim())
      for (const col of written) t.ok(columns.has(col), `${table}.${col} is a column of the schema`)
      for (const [col, column] of columns) {
        if (column.notNull && !column.hasDefault) t.ok(written.includes(col), `${table}.${col} (not null, no default) is written`)
      }
      // Values taken straight from the jsonb list must be read as the column's type.
      const values = m[3]!.replace(/^distinct on \([^)]*\) /, '').split(',').map((v) => v.trim())
      written.forEach((col, i) => {
        const value = /^(?:\w+\.)?(\w+)$/.exec(values[i] ?? '')?.[1]
        const shape = value === undefined ? undefined : shapeTypes.get(value)
        if (shape !== undefined && columns.has(col)) t.equal(shape, normalType(columns.get(col)!.getSQLType()), `${table}.${col} is read from the list as its type`)
      })
    }

    for (const m of sqlText.matchAll(/\bupdate (\w+) \w+ set (.*?) from /g)) {
      const table = m[1]!
      const columns = columnsOf(table)!
      // Top-level assignments only: `a = s.a, b = coalesce(s.b, c.b), …`.
      let depth = 0
      let current = ''
      const parts: string[] = []
      for (const ch of m[2]!) {
        if (ch === '(') depth++
        if (ch === ')') depth--
        if (ch === ',' && depth === 0) { parts.push(current); current = '' } else current += ch
      }
      parts.push(current)
      for (const part of parts) {
        const [col, value] = part.split(/=(.*)/s).map((s) => s.trim())
        t.ok(columns.has(col!), `${table}.${col} (set) is a column of the schema`)
        const from = /^s\.(\w+)$/.exec(value ?? '')?.[1]
        const shape = from === undefined ? undefined : shapeTypes.get(from)
        if (shape !== undefined && columns.has(col!)) t.equal(shape, normalType(columns.get(col!)!.getSQLType()), `${table}.${col} is set from the list as its type`)
      }
    }
  })
}
