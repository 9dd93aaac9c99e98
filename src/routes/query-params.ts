import { _, type KeywordDefinition } from 'ajv'
import { Type } from 'typebox'
import { BadRequest } from '../errors.js'

/**
 * `finite: true`: Ajv's coercion turns a query or path value such as "1e400" or "Infinity" into
 * Infinity and then skips minimum/maximum for it (ajv-validator/ajv#2212, fastify/fastify#6718),
 * so a number that reaches the database would overflow it. Registered in app.ts.
 */
export const finiteKeyword: KeywordDefinition = {
  keyword: 'finite',
  schemaType: 'boolean',
  code (cxt) {
    if (cxt.schema === true) cxt.fail(_`typeof ${cxt.data} == "number" && !isFinite(${cxt.data})`)
  },
  error: { message: 'must be a finite number' }
}

/** An integer read from a query string or a path: both bounds are required, and it is finite. */
export const QueryInteger = (opts: { minimum: number, maximum: number, default?: number, description?: string }) =>
  Type.Integer({ ...opts, finite: true })

/** Largest value of an int4 column (flow versions, step numbers). */
export const MAX_INT4 = 2 ** 31 - 1

/**
 * RFC 3339 as the date-time format reads it, narrowed to what both Date and PostgreSQL take: a
 * year from 1000 (PostgreSQL has no year 0, and an offset can move 0001 into it), no leap second
 * and a full offset (Date parses neither :60 nor +01).
 */
export const QueryDateTime = (description: string) => Type.String({
  format: 'date-time',
  pattern: '^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-5][0-9](\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:?[0-9]{2})$',
  description
})

/** A from/to window; `from` after `to` is a mistake the client should hear about, not an empty page. */
export function dateRange (q: { from?: string, to?: string }): { from?: Date, to?: Date } {
  const from = q.from !== undefined ? new Date(q.from) : undefined
  const to = q.to !== undefined ? new Date(q.to) : undefined
  if (from !== undefined && to !== undefined && from > to) throw new BadRequest('querystring/from must not be after querystring/to')
  return { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) }
}
