import { appendAudit } from '../audit/append.js'
import type { Db } from '../db/client.js'
import type { Executor } from '../db/executor.js'
import { insertLink, lockLink, pruneExpiredLinks, recordPinFailure } from '../db/recording-links.js'
import { findUser } from '../db/users.js'
import { signatureMatches, signLink, type LinkRefusal, type ParsedLink } from './link-token.js'

/** Wrong PINs a link takes before it locks for good (the issuer can hand out a new one). */
export const MAX_PIN_FAILURES = 5

/**
 * Issues a link: its row, then the token naming it. Must run in the transaction that audits the
 * issue, so no token exists without its row. Rows of the recording's expired links go on the way,
 * which keeps the table to the links that could still play.
 */
export async function issueLink (tx: Executor, secret: string, link: { recordingId: string, issuedBy: string, expiresAt: Date, pin?: string | undefined }, now: Date): Promise<{ id: string, token: string }> {
  await pruneExpiredLinks(tx, link.recordingId, now)
  const id = await insertLink(tx, { recordingId: link.recordingId, issuedBy: link.issuedBy, pin: link.pin !== undefined, expiresAt: link.expiresAt, createdAt: now })
  return { id, token: signLink(secret, { linkId: id, recordingId: link.recordingId, expiresAt: link.expiresAt }, link.pin) }
}

/**
 * Whether the issuer could still issue this link now, by the rule POST /api/recordings/:id/link
 * applies: an admin, or a controller of the recording's tenant, not revoked. A link acts on its
 * issuer's authority, so it ends when that authority does.
 */
export async function issuerMayShare (db: Executor, issuedBy: string, tenantId: string): Promise<boolean> {
  if (issuedBy === 'admin-token') return true
  const userId = /^user:([0-9a-f-]{36})$/i.exec(issuedBy)?.[1]
  if (userId === undefined) return false
  const user = await findUser(db, userId, null)
  if (user === null || user.revokedAt !== null) return false
  return user.role === 'admin' || (user.role === 'controller' && user.tenantId === tenantId)
}

export type Admission =
  | { ok: true, linkId: string, tenantId: string, issuedBy: string }
  | { ok: false, status: 403 | 410 | 423, reason: LinkRefusal | 'revoked' | 'locked', message: string }

const refuse = (status: 403 | 410 | 423, reason: LinkRefusal | 'revoked' | 'locked', message: string): Admission => ({ ok: false, status, reason, message })

/**
 * Decides a fetch through a parsed link, in one transaction holding the link's row: lock and
 * revocation first, then the signature and PIN (a wrong PIN is counted and audited, never
 * logged or stored; the MAX_PIN_FAILURES-th locks the link), then the issuer. Refusals are
 * returned, not thrown, so the counted failure commits.
 */
export async function admitLink (db: Pick<Db, 'transaction'>, secret: string, link: ParsedLink, pin: string | undefined, request: { now: Date, ip: string }): Promise<Admission> {
  return await db.transaction((tx) => decide(tx, secret, link, pin, request))
}

async function decide (tx: Executor, secret: string, link: ParsedLink, pin: string | undefined, request: { now: Date, ip: string }): Promise<Admission> {
  const { now, ip } = request
  const row = await lockLink(tx, link.claims.linkId, link.claims.recordingId)
  // Erasing a recording deletes its links' rows: a genuine link then answers as the recording does.
  if (row === null) return refuse(410, 'unknown-link', 'the link or its recording was deleted')
  if (row.lockedAt !== null) return refuse(423, 'locked', `link locked after ${MAX_PIN_FAILURES} wrong PINs; ask for a new link`)
  if (row.revokedAt !== null) return refuse(410, 'revoked', `link revoked at ${row.revokedAt.toISOString()}; ask for a new link`)
  if (now >= row.expiresAt) return refuse(403, 'expired', 'link refused: expired')
  const given = pin === '' ? undefined : pin
  if (row.pin && given === undefined) return refuse(403, 'pin-required', 'link refused: pin-required (header x-recording-pin)')
  if (!signatureMatches(secret, link, row.pin ? given : undefined)) {
    // Without a PIN the signature is 256 bits no one guesses; only PIN guesses are counted.
    if (!row.pin) return refuse(403, 'bad-signature', 'link refused: bad-signature')
    const { failures, locked } = await recordPinFailure(tx, row.id, MAX_PIN_FAILURES, now)
    const subject = `recording:${row.recordingId}`
    await appendAudit(tx, { tenantId: row.tenantId, actor: row.issuedBy, action: 'recording.link.pin-failed', subject, details: { link: row.id, failures, maxFailures: MAX_PIN_FAILURES, ip }, at: now })
    if (locked) {
      await appendAudit(tx, { tenantId: row.tenantId, actor: row.issuedBy, action: 'recording.link.locked', subject, details: { link: row.id, failures, ip }, at: now })
      return refuse(423, 'locked', `link locked after ${MAX_PIN_FAILURES} wrong PINs; ask for a new link`)
    }
    return refuse(403, 'bad-signature', `link refused: wrong PIN (header x-recording-pin), ${MAX_PIN_FAILURES - failures} of ${MAX_PIN_FAILURES} attempts left`)
  }
  if (!await issuerMayShare(tx, row.issuedBy, row.tenantId)) {
    return refuse(403, 'issuer-not-allowed', `link refused: its issuer (${row.issuedBy}) is revoked or no longer a controller of this tenant`)
  }
  return { ok: true, linkId: row.id, tenantId: row.tenantId, issuedBy: row.issuedBy }
}
