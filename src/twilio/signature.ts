import type { FastifyRequest } from 'fastify'
import webhooks from 'twilio/lib/webhooks/webhooks.js'

/**
 * The URL Twilio signed: PUBLIC_URL plus the path and query as received. The Host header and
 * scheme the server sees are not used, because behind a proxy they are the proxy's, not Twilio's.
 * A WebSocket upgrade is signed over the stream URL exactly as the server emitted it in
 * <Stream url>: ws(s)://, no query (Twilio drops query strings from stream URLs).
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security
 */
export function signedUrl (publicUrl: string, request: Pick<FastifyRequest, 'url' | 'headers'>): string {
  if (isWebSocketUpgrade(request)) {
    return publicUrl.replace(/^http/, 'ws') + request.url.split('?')[0]!
  }
  return publicUrl + request.url
}

export function isWebSocketUpgrade (request: Pick<FastifyRequest, 'headers'>): boolean {
  return (request.headers.upgrade ?? '').toLowerCase() === 'websocket'
}

/** Params Twilio signed: the POST form fields (never query fields, which are part of the URL). */
export function signedParams (body: unknown): Record<string, string | string[]> {
  if (body === null || typeof body !== 'object') return {}
  return body as Record<string, string | string[]>
}

export function validTwilioSignature (authToken: string, signature: string | undefined, url: string, params: Record<string, string | string[]>): boolean {
  if (signature === undefined || signature === '') return false
  return withDefaultPort(url).some((candidate) => webhooks.validateRequest(authToken, signature, candidate, params))
}

/**
 * A JSON webhook: Twilio signs the URL alone, and the URL's bodySHA256 parameter is the SHA-256
 * of the raw body (twilio's validateRequestWithBody). Without that parameter nothing signs the
 * body, so it is refused.
 */
export function validTwilioBodySignature (authToken: string, signature: string | undefined, url: string, rawBody: string): boolean {
  if (signature === undefined || signature === '') return false
  return withDefaultPort(url).some((candidate) => webhooks.validateRequestWithBody(authToken, signature, candidate, rawBody))
}

/**
 * twilio's validateRequest already tries the URL with and without its default port, but takes
 * 80 as the default of every scheme other than https: a wss:// URL Twilio signed with :443 (the
 * stream URL as it connected) would never match. The wss form with :443 is added here.
 */
function withDefaultPort (url: string): string[] {
  const parts = /^(wss:\/\/)([^/?#]*)(.*)$/i.exec(url)
  if (parts === null) return [url]
  const [, scheme, authority, rest] = parts as unknown as [string, string, string, string]
  // A colon after an IPv6 literal's closing bracket starts the port.
  if (authority.slice(authority.lastIndexOf(']') + 1).includes(':')) return [url]
  return [url, `${scheme}${authority}:443${rest}`]
}

/** What Twilio would send as X-Twilio-Signature; used by tests, the simulator and benchmarks. */
export function twilioSignature (authToken: string, url: string, params: Record<string, string | string[]>): string {
  return webhooks.getExpectedTwilioSignature(authToken, url, params)
}
