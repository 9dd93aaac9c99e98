import { audited } from '../audit/audited.js'
import type { Clock } from '../clock.js'
import type { Db } from '../db/client.js'
import type { Role } from '../db/schema.js'
import { createUser, replaceKey, revokeUser } from '../db/users.js'
import { NotFound } from '../errors.js'
import { newApiKey } from './api-keys.js'

export interface UserDeps { db: Db, clock: Clock }

/** What the caller hands to the key's owner: the key itself exists nowhere else (only its hash is stored). */
export interface IssuedKey { id: string, apiKey: string }

/** Creates a user with a fresh API key, audited with the key's prefix (which identifies it in logs, not the key). */
export async function createUserWithKey (deps: UserDeps, user: { tenantId: string, role: Role, name: string, email: string }, actor: string): Promise<IssuedKey> {
  const { key, hash, prefix } = newApiKey()
  const created = await audited(deps.db,
    (tx) => createUser(tx, { ...user, keyHash: hash, keyPrefix: prefix }),
    (row) => ({ tenantId: user.tenantId, actor, action: 'user.create', subject: `user:${row.id}`, details: { role: user.role, keyPrefix: prefix }, at: deps.clock.now() }))
  return { id: created.id, apiKey: key }
}

/**
 * Replaces the user's key; the old one stops working at once. A user revoked since the caller
 * looked it up is not found: a revoked user's key is never brought back.
 */
export async function rotateUserKey (deps: UserDeps, user: { id: string, tenantId: string }, actor: string): Promise<IssuedKey> {
  const { key, hash, prefix } = newApiKey()
  const at = deps.clock.now()
  const rotated = await audited(deps.db,
    (tx) => replaceKey(tx, user.id, hash, prefix, at),
    (done) => done ? { tenantId: user.tenantId, actor, action: 'user.rotate-key', subject: `user:${user.id}`, details: { keyPrefix: prefix }, at } : null)
  if (!rotated) throw new NotFound('user')
  return { id: user.id, apiKey: key }
}

/** Revokes the user (its key stops working at once); one already revoked is not found. */
export async function revokeUserAccess (deps: UserDeps, user: { id: string, tenantId: string }, actor: string): Promise<void> {
  const at = deps.clock.now()
  const revoked = await audited(deps.db,
    (tx) => revokeUser(tx, user.id, at),
    (done) => done ? { tenantId: user.tenantId, actor, action: 'user.revoke', subject: `user:${user.id}`, details: {}, at } : null)
  if (!revoked) throw new NotFound('user')
}
