import { createHmac, timingSafeEqual } from 'node:crypto'

/** What a signed recording link grants: one recording, issued by one user, until a time. */
export interface LinkGrant {
  recordingId: string
  /** Audit actor of whoever issued the link ("user:<id>" or "admin-token"). */
  issuedBy: string
  expiresAt: Date
  /** Whether the fetch must present a PIN. */
  pin: boolean
}

export const DEFAULT_LINK_SECONDS = 15 * 60
export const MAX_LINK_SECONDS = 24 * 60 * 60

const mac = (secret: string, payload: string, pin: string | undefined) =>
  createHmac('sha256', secret).update(payload).update('\0').update(pin ?? '').digest()

/**
 * token = base64url(payload) "." base64url(HMAC-SHA-256(secret, payload ‖ PIN)). The PIN is in
 * the MAC, not in the token, so the link alone is useless without it and no PIN is stored.
 */
export function signLink (secret: string, grant: LinkGrant, pin?: string): string {
  const payload = Buffer.from(JSON.stringify({ r: grant.recordingId, u: grant.issuedBy, e: Math.floor(grant.expiresAt.getTime() / 1000), p: pin !== undefined ? 1 : 0 })).toString('base64url')
  return `${payload}.${mac(secret, payload, pin).toString('base64url')}`
}

export type LinkCheck = { ok: true, grant: LinkGrant } | { ok: false, reason: 'malformed' | 'bad-signature' | 'wrong-recording' | 'expired' | 'pin-required' }

export function verifyLink (secret: string, token: string, recordingId: string, now: Date, pin?: string): LinkCheck {
  const [payload, signature, extra] = token.split('.')
  if (payload === undefined || signature === undefined || extra !== undefined) return { ok: false, reason: 'malformed' }
  let claims: { r?: unknown, u?: unknown, e?: unknown, p?: unknown }
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  if (typeof claims.r !== 'string' || typeof claims.u !== 'string' || typeof claims.e !== 'number' || (claims.p !== 0 && claims.p !== 1)) return { ok: false, reason: 'malformed' }
  if (claims.p === 1 && (pin === undefined || pin === '')) return { ok: false, reason: 'pin-required' }
  const expected = mac(secret, payload, claims.p === 1 ? pin : undefined)
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad-signature' }
  if (claims.r !== recordingId) return { ok: false, reason: 'wrong-recording' }
  if (now.getTime() >= claims.e * 1000) return { ok: false, reason: 'expired' }
  return { ok: true, grant: { recordingId: claims.r, issuedBy: claims.u, expiresAt: new Date(claims.e * 1000), pin: claims.p === 1 } }
}
