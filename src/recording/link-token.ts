import { createHmac, timingSafeEqual } from 'node:crypto'

/** What a signed recording link names: its row in recording_links, one recording, an end. */
export interface LinkClaims {
  linkId: string
  recordingId: string
  expiresAt: Date
}

export const DEFAULT_LINK_SECONDS = 15 * 60
export const MAX_LINK_SECONDS = 24 * 60 * 60

const mac = (secret: string, payload: string, pin: string | undefined) =>
  createHmac('sha256', secret).update(payload).update('\0').update(pin ?? '').digest()

/**
 * token = base64url(payload) "." base64url(HMAC-SHA-256(secret, payload ‖ PIN)). The PIN is in
 * the MAC, not in the token, so the link alone is useless without it and no PIN is stored.
 * Everything else about the link (issuer, PIN or not, lock, revocation) is in its row.
 */
export function signLink (secret: string, claims: LinkClaims, pin?: string): string {
  const payload = Buffer.from(JSON.stringify({ l: claims.linkId, r: claims.recordingId, e: Math.floor(claims.expiresAt.getTime() / 1000) })).toString('base64url')
  return `${payload}.${mac(secret, payload, pin).toString('base64url')}`
}

/** A token taken apart; its claims are not yet authenticated (see signatureMatches). */
export interface ParsedLink {
  claims: LinkClaims
  payload: string
  signature: string
}

export type LinkRefusal = 'malformed' | 'wrong-recording' | 'expired' | 'unknown-link' | 'pin-required' | 'bad-signature' | 'issuer-not-allowed'

export type ParseResult = { ok: true, link: ParsedLink } | { ok: false, reason: LinkRefusal }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Reads a token and refuses what needs no database: shape, recording, expiry. Claims that only
 * make a link refuse are safe to act on before the MAC is checked; nothing is granted here.
 */
export function parseLink (token: string, recordingId: string, now: Date): ParseResult {
  const [payload, signature, extra] = token.split('.')
  if (payload === undefined || signature === undefined || extra !== undefined) return { ok: false, reason: 'malformed' }
  let claims: { l?: unknown, r?: unknown, e?: unknown }
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  if (typeof claims !== 'object' || claims === null || typeof claims.l !== 'string' || !UUID.test(claims.l) || typeof claims.r !== 'string' || typeof claims.e !== 'number') return { ok: false, reason: 'malformed' }
  if (claims.r !== recordingId) return { ok: false, reason: 'wrong-recording' }
  if (now.getTime() >= claims.e * 1000) return { ok: false, reason: 'expired' }
  return { ok: true, link: { claims: { linkId: claims.l, recordingId: claims.r, expiresAt: new Date(claims.e * 1000) }, payload, signature } }
}

/** Whether the token was signed by this server, for this PIN (none for a PIN-less link). */
export function signatureMatches (secret: string, link: ParsedLink, pin: string | undefined): boolean {
  const expected = mac(secret, link.payload, pin)
  const given = Buffer.from(link.signature, 'base64url')
  return given.length === expected.length && timingSafeEqual(given, expected)
}
