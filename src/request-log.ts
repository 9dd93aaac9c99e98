/**
 * What a log line may say about a request. Query strings carry credentials and personal data
 * (`/recordings/:id?token=` opens a recording without a PIN; `/api/calls?number=` and
 * `/api/suppressions?number=` hold a phone number), and logs are kept longer and read by more
 * people than the database. So a line carries the route template, the path only when a route
 * matched (its parameters are ids), and the query's keys with only known-harmless values kept.
 */

/**
 * Query keys whose values are ids, dates, counts or enumerations. Everything else (token,
 * number, pin, reason, actor, subject, a key nobody expected) is logged as REDACTED: a new
 * parameter is hidden until someone decides it is harmless, not the other way round.
 */
const SAFE_QUERY_KEYS = new Set([
  'tenantId', 'campaignId', 'country', 'source', 'limit', 'cursor', 'from', 'to', 'outcome',
  'afterSeq', 'action', 'node', 'step', 'recomputeRetention'
])

export const REDACTED = '[redacted]'
const NAME = /^[A-Za-z_][A-Za-z0-9_.[\]-]{0,63}$/

/** `?a=1&token=x` → `?a=1&token=[redacted]`; keys kept so a line still says what was asked. */
export function redactQuery (query: string): string {
  if (query === '') return ''
  return query.split('&').map((part) => {
    const eq = part.indexOf('=')
    const rawKey = eq < 0 ? part : part.slice(0, eq)
    // A key can be data too (`?+447700900123`): only a name-like key is kept as it is.
    const key = NAME.test(rawKey) ? rawKey : REDACTED
    if (eq < 0) return key
    return SAFE_QUERY_KEYS.has(key) ? part : `${key}=${REDACTED}`
  }).join('&')
}

// A path no route matched can hold anything a client typed, a phone number included.
const DIGIT_RUN = /\+?[0-9][0-9 ().%-]{5,}[0-9]/g

/**
 * The URL as it may be logged: the path plus the redacted query. The path is masked when no route
 * matched or the route ends in a wildcard (`/console/*`): the client chose it. A matched route's
 * parameters are ids (UUIDs, CallSids), kept whole because they are what an operator looks for.
 */
export function loggableUrl (url: string, route: string | null): string {
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  const query = q < 0 ? '' : url.slice(q + 1)
  const safePath = route !== null && !route.includes('*') ? path : path.replace(DIGIT_RUN, REDACTED)
  return query === '' ? safePath : `${safePath}?${redactQuery(query)}`
}

interface LoggedRequest {
  method?: string
  url?: string
  routeOptions?: { url?: string | undefined }
}

/**
 * The pino serializer for `req` in every log line (the app's own and Fastify's): method, the
 * matched route and the loggable URL. No headers: Authorization, X-Recording-Pin and cookies
 * stay out without depending on a redact list being complete.
 */
export function serializeRequest (req: LoggedRequest): { method?: string, route: string | null, url: string } {
  const route = req.routeOptions?.url ?? null
  return { method: req.method, route, url: loggableUrl(req.url ?? '', route) }
}
